"""A cached key carries its owner's account, is_active included: when an account is switched
off (or on again), in admin or anywhere else, its keys must answer accordingly at once, not
when their cache entries expire."""
from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from keys import cache as key_cache
from keys.models import ApiKey


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def forget_keys_of_saved_user(sender, instance, update_fields=None, **kwargs):
    if update_fields is not None and "is_active" not in update_fields:
        return  # e.g. last_login, saved at every sign-in
    hashes = [h for pair in ApiKey.objects.filter(owner=instance).values_list("key_hash", "previous_key_hash")
              for h in pair if h]
    if hashes:
        key_cache.forget(*hashes)
