"""API keys and their audit trail in Django admin. Every change goes through keys.services
and keys.limit_services, like the API's and the dashboard's, so validation, audit events and
cache invalidation are the same on every surface. The hash is never shown."""
from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_variables

from accounts.access import admin_actor, role_of
from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, Membership
from audit.models import AuditEvent
from core.durations import days_in
from core.errors import Conflict, Forbidden, NotFound
from keys import services
from keys.grants import grant_check, inherited_limit, key_grant_check
from keys.limit_services import (
    api_key_issue,
    limits_check_change,
    limits_check_values,
    limits_delete,
    limits_set,
)
from keys.models import DEFAULT_LIFETIME, RESTRICTION_FIELDS, ApiKey, KeyLimit, KeyState
from keys.restrictions import SCOPES, restrictions_clean
from web.admin.accounts import CompanyScopedAdmin, ReadOnlyScopedAdmin, ScopedMixin
from web.name_fields import AdminKeyNameInput
from web.number_fields import WholeNumberField


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return KeyState.choices

    def queryset(self, request, queryset):
        return queryset.in_state(self.value()) if self.value() in KeyState.values else queryset


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("30d", "Within 30 days"), ("90d", "Within 90 days"), ("never", "Never expires")]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(expires_at__isnull=True)
        if self.value() in ("30d", "90d"):
            return queryset.filter(expires_at__lte=timezone.now() + timedelta(days=days_in(self.value()) or 0))
        return queryset


def _grant_error(form, check) -> None:
    """The grant rule's refusal (keys.grants) as a form error, before anything is saved."""
    try:
        check()
    except (Forbidden, NotFound) as error:
        form.add_error(None, error.message)


class GrantorForm(forms.ModelForm):
    """A form that knows who is acting (ApiKeyAdmin.get_form and KeyLimitInline.get_formset
    bind `request`), so that the grant rule refuses in clean(), as a form error."""

    request = None

    def grantor(self, company_id):
        return admin_actor(self.request.user, company_id)


class KeyLimitForm(GrantorForm):
    request_limit = WholeNumberField(required=False, min_value=0, max_value=MAX_REQUEST_LIMIT)
    budget_limit_microcents = WholeNumberField(required=False, min_value=0, max_value=MAX_BUDGET_MICROCENTS)

    class Meta:
        model = KeyLimit
        fields = ["request_limit", "budget_limit_microcents", "reset_period", "enabled"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                limits_check_values(request_limit=data.get("request_limit"),
                                    budget_limit_microcents=data.get("budget_limit_microcents"),
                                    reset_period=data.get("reset_period"))
            except ValidationError as error:
                self.add_error(None, error)
        key = self.instance.api_key if self.instance.api_key_id else None
        if key is not None and self.has_changed():  # a removal is KeyLimitFormSet's to check
            _grant_error(self, lambda: limits_check_change(self.grantor(key.company_id), key))
        return data


class KeyLimitFormSet(forms.BaseInlineFormSet):
    """Django drops the errors of a form ticked for deletion, so removing a limit is asked of
    the grant rule here, for the whole formset."""

    def clean(self):
        super().clean()
        for form in self.deleted_forms:
            if form.instance.pk is not None:
                key = form.instance.api_key
                try:
                    limits_check_change(admin_actor(form.request.user, key.company_id), key)
                except (Forbidden, NotFound) as error:
                    raise forms.ValidationError(error.message) from None


class KeyLimitInline(ScopedMixin, admin.StackedInline):
    model = KeyLimit
    form = KeyLimitForm
    formset = KeyLimitFormSet
    fk_name = "api_key"
    company_path = "api_key__company"
    extra = 0
    max_num = 1
    can_delete = True

    def has_add_permission(self, request, obj=None):
        return obj is not None

    def has_change_permission(self, request, obj=None):
        return True

    def has_delete_permission(self, request, obj=None):
        return True

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["form"] = type("KeyLimitForm", (self.form,), {"request": request})
        return super().get_formset(request, obj, **kwargs)


class LabelledSplitDateTime(AdminSplitDateTime):
    """Admin's date and time inputs, each with its own accessible name: the field's one <label>
    points at the date alone, which leaves the time input nameless (axe: critical)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.widgets[0].attrs["aria-label"] = "Expires at: date (YYYY-MM-DD)"
        self.widgets[1].attrs["aria-label"] = "Expires at: time (HH:MM:SS, UTC)"


class ApiKeyAddForm(GrantorForm):
    class Meta:
        model = ApiKey
        fields = ["company", "owner", "name", "mode", "expires_at"]
        widgets = {"expires_at": LabelledSplitDateTime, "name": AdminKeyNameInput}
        help_texts = {"owner": "For a service account, add a member for it first (manage.py addmember)."}

    def clean(self):
        data = super().clean()
        company, owner = data.get("company"), data.get("owner")
        if company and owner and not Membership.objects.filter(company=company, user=owner).exists():
            self.add_error("owner", f"{owner} is not a member of {company}.")
        try:
            # Runs inside admin's transaction, so the cap's lock holds until save_model has made the key.
            services.api_key_check(name=data.get("name", ""), expires_at=data.get("expires_at"),
                                   company=company, owner=owner)
        except ValidationError as error:
            self.add_error(None, error)
        except Conflict as error:
            self.add_error(None, error.message)
        if company and owner and not self.errors:
            grantor = self.grantor(company.pk)
            _grant_error(self, lambda: grant_check(grantor, owner_id=owner.pk, owner_role=role_of(company.pk, owner.pk),
                                                   obtains=inherited_limit(grantor, company)))
        return data


class LinesField(forms.CharField):
    """A list edited one entry per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class ApiKeyChangeForm(GrantorForm):
    allowed_ips = LinesField(label="Allowed IPs", required=False,
                             help_text="One IP address or CIDR range per line; empty: any address.")
    allowed_referrers = LinesField(required=False, help_text="One host or *.example.com pattern per line; empty: any.")
    scopes = forms.MultipleChoiceField(choices=[(k, f"{k}: {v}") for k, v in SCOPES.items()],
                                       widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["name", "expires_at", *RESTRICTION_FIELDS]
        widgets = {"expires_at": LabelledSplitDateTime, "name": AdminKeyNameInput}

    def clean(self):
        data = super().clean()
        checks = [lambda: services.api_key_check(name=data.get("name", ""), expires_at=data.get("expires_at")),
                  lambda: restrictions_clean(**{field: data.get(field) or [] for field in RESTRICTION_FIELDS})]
        for check in checks:
            try:
                check()
            except ValidationError as error:
                self.add_error(None, error)
        if not self.errors and set(self.changed_data) - {"name"}:
            key = self.instance
            scopes = data.get("scopes") if "scopes" in self.changed_data else None
            _grant_error(self, lambda: key_grant_check(self.grantor(key.company_id), key, scopes=scopes))
        return data


class ExtendExpiryForm(forms.Form):
    days = forms.TypedChoiceField(coerce=int, choices=[(30, "30 days"), (90, "90 days"), (365, "1 year")],
                                  initial=90, help_text="Added to the current expiry, or to now if that is sooner.")


@admin.register(ApiKey)
class ApiKeyAdmin(CompanyScopedAdmin):
    list_display = ["name", "prefix_display", "owner", "company", "mode", "status_display", "created_at",
                    "last_used_at", "expires_at"]
    list_filter = [StatusFilter, "mode", ("owner", admin.RelatedOnlyFieldListFilter), ExpiryFilter]
    search_fields = ["name", "prefix", "owner__username"]
    list_select_related = ["owner", "company"]
    actions = ["revoke_selected", "extend_expiry"]
    inlines = [KeyLimitInline]
    autocomplete_fields = ["owner"]

    class Media:
        css = {"all": ["css/admin-keys.css"]}
        js = ["js/admin-keys.js"]

    def has_add_permission(self, request, obj=None):
        return True

    def get_changeform_initial_data(self, request):
        # The dashboard's default lifetime, so a key made here does not silently live forever.
        midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return {"expires_at": midnight + DEFAULT_LIFETIME, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None):
        # Objects reach here through the scoped queryset, so only revocation is left to check.
        return not (obj and obj.is_revoked)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = ApiKeyChangeForm if obj else ApiKeyAddForm
        kwargs["form"] = type(form.__name__, (form,), {"request": request})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["company", "owner", "name", "mode", "expires_at"]
        return ["name", "expires_at", *RESTRICTION_FIELDS, "prefix_display", "mode", "owner",
                "company", "status_display", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["prefix_display", "mode", "owner", "company", "status_display", "created_at", "created_by",
                    "last_used_at", "revoked_at", "revoked_by"]
        return readonly + (["name", "expires_at", *RESTRICTION_FIELDS] if obj.is_revoked else [])

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="prefix", ordering="prefix")
    def prefix_display(self, key):
        return f"{key.prefix}…"

    @admin.display(description="status")
    def status_display(self, key):
        status = key.status
        # A class, not a style attribute: the Content-Security-Policy allows no inline style.
        return format_html('<span class="key-status key-status-{}">●</span> {}', status.value, status.label)

    @sensitive_variables("raw")
    def save_model(self, request, obj, form, change):
        if change:
            # The form has already copied its values onto obj; the service compares against
            # the stored key to know what really changed.
            stored = ApiKey.objects.get(pk=obj.pk)
            # Only what the form changed: its date widget drops an expiry's microseconds, so passing
            # an unchanged expiry back would change it, and ask the grant rule for a mere rename.
            grantor = admin_actor(request.user, stored.company_id)
            changed = set(form.changed_data)
            services.api_key_update(api_key=stored, grantor=grantor,
                                    **{f: form.cleaned_data[f] for f in ("name", "expires_at") if f in changed})
            services.api_key_set_restrictions(api_key=stored, grantor=grantor,
                                              **{f: form.cleaned_data[f] for f in RESTRICTION_FIELDS if f in changed})
            return
        key, raw = api_key_issue(grantor=admin_actor(request.user, obj.company_id), company=obj.company,
                                 owner=obj.owner, name=obj.name, mode=obj.mode, expires_at=obj.expires_at)
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding, obj._state.db = False, key._state.db
        request._keyhouse_raw_key = raw  # for response_add only; never stored, never in a message

    def save_formset(self, request, form, formset, change):
        if formset.model is not KeyLimit:
            return super().save_formset(request, form, formset, change)
        # Django's change message reads these; the service calls below are the real save.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for limit_form in formset.forms:
            if not limit_form.has_changed() and not formset._should_delete_form(limit_form):
                continue
            grantor = admin_actor(request.user, form.instance.company_id)
            if formset._should_delete_form(limit_form):
                limits_delete(api_key=form.instance, grantor=grantor)
            else:
                fields = {name: limit_form.cleaned_data[name] for name in KeyLimitForm.Meta.fields}
                limits_set(api_key=form.instance, grantor=grantor, **fields)

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_keyhouse_raw_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(request, "admin/keys/apikey/key_created.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "key": obj, "raw": raw,
            "title": "Copy the new API key now",
        })
        response["Cache-Control"] = "no-store"
        return response

    def _selected(self, request, queryset):
        return [key for key in queryset if self.has_change_permission(request, key)]

    @admin.action(description="Revoke selected keys")
    def revoke_selected(self, request, queryset):
        keys = self._selected(request, queryset)
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/keys/apikey/revoke_confirmation.html", {
                **self.admin_site.each_context(request), "opts": self.opts, "keys": keys,
                "title": "Revoke these API keys?", "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            })
        for key in keys:
            services.api_key_revoke(api_key=key, actor_user=request.user)
        self.message_user(request, f"Revoked {len(keys)} key(s); they are refused from the next request on.",
                          messages.SUCCESS)
        return None

    @admin.action(description="Extend expiry")
    def extend_expiry(self, request, queryset):
        keys = self._selected(request, queryset)
        form = ExtendExpiryForm(request.POST if "days" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(request, "admin/keys/apikey/extend_expiry.html", {
                **self.admin_site.each_context(request), "opts": self.opts, "keys": keys, "form": form,
                "title": "Extend the expiry of these API keys",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            })
        now, days = timezone.now(), form.cleaned_data["days"]
        # A key may expire as late as 9999-12-31 (the dashboard's date picker allows it); adding
        # days to that overflows, so such a key is refused rather than crash the action.
        latest = datetime.max.replace(tzinfo=UTC) - timedelta(days=days)
        extended, refused = [], []
        for key in (k for k in keys if k.expires_at is not None):
            if key.expires_at > latest:
                refused.append(f"{key.name}: it expires on {key.expires_at:%Y-%m-%d}; {days} days more would pass "
                               "the end of the year 9999.")
                continue
            try:
                services.api_key_update(api_key=key, grantor=admin_actor(request.user, key.company_id),
                                        expires_at=max(key.expires_at, now) + timedelta(days=days))
                extended.append(key)
            except ValidationError as error:  # the key policy
                refused.append(f"{key.name}: {' '.join(error.messages)}")
            except Forbidden as error:  # the grant rule
                refused.append(f"{key.name}: {error.message}")
        skipped = sum(1 for k in keys if k.expires_at is None)
        note = f" {skipped} never expire and were left as they are." if skipped else ""
        self.message_user(request, f"Extended {len(extended)} key(s) by {days} days.{note}", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not extended: {line}", messages.ERROR)
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "action", "surface", "actor_label", "api_key_label", "ip"]
    list_filter = ["action", "surface"]
    search_fields = ["actor_label", "api_key_label"]
    date_hierarchy = "created_at"
