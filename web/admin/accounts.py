"""Admin pages are scoped here, in one mixin every Keyhouse ModelAdmin and inline uses:
querysets, foreign-key choices, autocomplete and object URLs only ever reach the companies
the person administers (accounts.access.companies_administered_by). Another company's
object URL is a 404, not a redirect that would confirm it exists."""
from collections.abc import Mapping
from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse

from accounts.access import companies_administered_by, companies_owned_by
from accounts.models import POLICY_FIELDS, Company, Membership
from core.errors import BadParameter, Conflict
from core.parsing import ascii_int
from keys.company_services import company_policy_check, company_policy_set, membership_remove, membership_set
from web.admin_site import may_use_admin
from web.number_fields import WholeNumberField

User = get_user_model()


def scoped(request, queryset, company_path: str):
    """`queryset` limited to the companies the person administers; `company_path` leads from
    the model to its Company ("" for Company itself)."""
    if request.user.is_superuser:
        return queryset
    if not hasattr(request, "_admin_company_ids"):
        request._admin_company_ids = list(companies_administered_by(request.user).values_list("pk", flat=True))
    lookup = f"{company_path}__in" if company_path else "pk__in"
    return queryset.filter(**{lookup: request._admin_company_ids}).distinct()


# How to reach the company from each model that can appear as a foreign-key choice.
CHOICE_SCOPES = {Company: "", User: "memberships__company"}


class DateDrillDownChangeList(ChangeList):
    """Django's date drill-down (date_hierarchy) adds a day, a month or a year to the date in
    the URL, which crashes past 9999; its numbers are read by core.parsing.ascii_int, and a
    bad one is a bad filter like any other (Django's redirect to ?e=1)."""

    def get_filters(self, request):
        parts = (("year", 9998), ("month", 12), ("day", 31))  # 9998: its next year still exists
        for part, high in parts if self.date_hierarchy else ():
            raw = self.params.get(f"{self.date_hierarchy}__{part}")
            if raw is not None:
                try:
                    ascii_int(raw, name=part, low=1, high=high)
                except BadParameter as error:
                    raise IncorrectLookupParameters(error.message) from None
        return super().get_filters(request)


class ScopedMixin:
    company_path = "company"
    # Numbers in ASCII digits, as on the dashboard: "١٠٠" or "1_000" is not a limit anyone meant.
    formfield_overrides: Mapping[type[models.Field], Mapping[str, Any]] = {
        models.IntegerField: {"form_class": WholeNumberField}, models.BigIntegerField: {"form_class": WholeNumberField}}

    def get_changelist(self, request, **kwargs):
        return DateDrillDownChangeList

    def get_queryset(self, request):
        return scoped(request, super().get_queryset(request), self.company_path)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from keys.models import ApiKey

        path = {**CHOICE_SCOPES, ApiKey: "company"}.get(db_field.related_model)
        if path is not None:
            kwargs["queryset"] = scoped(request, db_field.related_model._default_manager.all(), path)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return may_use_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return may_use_admin(request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CompanyScopedAdmin(ScopedMixin, admin.ModelAdmin):
    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(f"No {opts.verbose_name} with this id in your companies.")


class ReadOnlyScopedAdmin(CompanyScopedAdmin):
    """For records nobody may change through any surface (usage records, audit events)."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


class CompanyForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        if self.instance.pk is not None and not self.errors:
            try:
                company_policy_check({field: data.get(field) for field in POLICY_FIELDS})
            except ValidationError as error:
                self.add_error(None, error)
        return data


@admin.register(Company)
class CompanyAdmin(CompanyScopedAdmin):
    form = CompanyForm
    company_path = ""
    list_display = ["name", "id", "max_key_lifetime_days", "require_key_expiry", "created_at"]
    search_fields = ["name"]
    fields = ["name", *POLICY_FIELDS]

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        policy = {field: form.cleaned_data[field] for field in POLICY_FIELDS}
        stored = Company.objects.get(pk=obj.pk)
        if form.cleaned_data["name"] != stored.name:
            stored.name = form.cleaned_data["name"]
            stored.save(update_fields=["name"])
        company_policy_set(company=stored, actor_user=request.user, **policy)

    def has_change_permission(self, request, obj=None):
        return obj is None or companies_owned_by(request.user).filter(pk=obj.pk).exists()

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(CompanyScopedAdmin):
    """Owners change roles and remove members, through the same services as every other
    surface (audited; a removed member's keys are revoked). New people join with
    `manage.py addmember`, or a superuser adds them here: listing every user of the
    installation to a company owner would leak other tenants' people."""

    list_display = ["user", "company", "role", "created_at"]
    list_filter = ["role", ("company", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "company__name"]
    autocomplete_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "company"] if obj else []

    def _owns(self, request, obj) -> bool:
        # Without an object Django asks "may this person change memberships at all?"; the
        # answer per membership comes with the object, so another company's id is a 404.
        return obj is None or companies_owned_by(request.user).filter(pk=obj.company_id).exists()

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._owns(request, obj)

    def _refusal_shown(self, request, view, *args, back_to: str):
        """A change the services refuse (the company's last owner) as an error message on the page
        instead of a 500. The whole request is rolled back, the admin's log entries with it."""
        try:
            with transaction.atomic():
                return view(request, *args)
        except Conflict as error:
            self.message_user(request, f"{error.message} Nothing was changed.", messages.ERROR)
            return HttpResponseRedirect(back_to)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._refusal_shown(request, super().changeform_view, object_id, form_url, extra_context,
                                   back_to=request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        change_url = reverse(f"{self.admin_site.name}:accounts_membership_change", args=[object_id])
        return self._refusal_shown(request, super().delete_view, object_id, extra_context, back_to=change_url)

    def response_action(self, request, queryset):
        # Bulk deletion removes one membership at a time; one refusal undoes them all.
        return self._refusal_shown(request, super().response_action, queryset, back_to=request.get_full_path())

    def save_model(self, request, obj, form, change):
        saved = membership_set(user=obj.user, company=obj.company, role=obj.role, actor_user=request.user)
        obj.pk, obj._state.adding, obj._state.db = saved.pk, False, saved._state.db

    def delete_model(self, request, obj):
        membership_remove(membership=obj, actor_user=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.filter(company__in=companies_owned_by(request.user)):
            membership_remove(membership=membership, actor_user=request.user)


admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(ScopedMixin, UserAdmin):
    """Superusers manage every account; company admins see their companies' members (for
    choosing a key's owner) and change nothing."""

    company_path = "memberships__company"

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such user in your companies.")


@admin.register(AccessAttempt)
class SignInLockoutAdmin(AccessAttemptAdmin):
    """Failed sign-ins per username and address (django-axes; docs/security.md). Unlocking is
    deleting the row. Superusers only: the rows name people and addresses of every company."""

    actions = ["unlock", "cleanup_expired_attempts"]

    def get_changelist(self, request, **kwargs):
        return DateDrillDownChangeList

    @admin.action(description="Unlock the selected usernames at these addresses", permissions=["delete"])
    def unlock(self, request, queryset):
        rows = list(queryset.values_list("username", "ip_address"))
        queryset.delete()
        unlocked = ", ".join(f"{username} at {address}" for username, address in rows)
        self.message_user(request, f"Unlocked {unlocked}: they may sign in again.", messages.SUCCESS)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False
