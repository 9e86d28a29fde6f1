"""A cached key snapshot (keys.verification.KeyGrant) is made of rows of five tables: the key,
its owner's account, the owner's membership in the key's company, the company's name and the
key's limit. A save or delete of any of them forgets the snapshots it affects, whichever
surface made it (services, admin, a shell, a command), cascades included: once a receiver
listens for a model's deletes, Django sends one for every row a cascade removes. Bulk updates
of keys forget through ApiKeyQuerySet.update."""
from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Company, Membership, memberships_updated
from keys import cache as key_cache
from keys.models import BOOKKEEPING_FIELDS, ApiKey


def _forget(keys) -> None:
    hashes = [h for pair in keys.values_list("key_hash", "previous_key_hash") for h in pair if h]
    if hashes:
        key_cache.forget(*hashes)


@receiver(post_save, sender=ApiKey)
def forget_saved_key(sender, instance, created, update_fields=None, **kwargs):
    if not created and not (update_fields and set(update_fields) <= BOOKKEEPING_FIELDS):
        key_cache.forget_key(instance)


@receiver(post_delete, sender=ApiKey)
def forget_deleted_key(sender, instance, **kwargs):
    key_cache.forget_key(instance)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def forget_keys_of_saved_user(sender, instance, update_fields=None, **kwargs):
    """Switched off (or on again), renamed, a new email: the snapshot holds all of these."""
    if update_fields is not None and not {"is_active", "username", "email"} & set(update_fields):
        return  # e.g. last_login, saved at every sign-in
    _forget(ApiKey.objects.filter(owner=instance))


@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def forget_keys_of_membership(sender, instance, **kwargs):
    """A new role, or no role at all: what the owner's keys may do changes with it."""
    _forget(ApiKey.objects.filter(owner_id=instance.user_id, company_id=instance.company_id))


@receiver(memberships_updated)
def forget_keys_of_updated_memberships(sender, pairs, **kwargs):
    for user_id, company_id in set(pairs):
        _forget(ApiKey.objects.filter(owner_id=user_id, company_id=company_id))


@receiver(post_save, sender=Company)
def forget_keys_of_renamed_company(sender, instance, created, update_fields=None, **kwargs):
    if not created and (update_fields is None or "name" in update_fields):
        _forget(ApiKey.objects.filter(company=instance))


@receiver(post_save, sender="usage.KeyLimit")
@receiver(post_delete, sender="usage.KeyLimit")
def forget_key_of_limit(sender, instance, **kwargs):
    _forget(ApiKey.objects.filter(pk=instance.api_key_id))
