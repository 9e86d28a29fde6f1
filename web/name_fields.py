"""The key name's input, shared by the dashboard's forms and Django admin."""
from django import forms
from django.contrib.admin.widgets import AdminTextInputWidget

from core.crypto import NAME_KEY_PATTERN, mask_keys


class KeyNameInput(forms.TextInput):
    """A key name's input. A name refused for holding a key comes back masked
    (sk_live_AbCd…), so the page that refuses it does not show the key again."""

    def format_value(self, value):
        value = super().format_value(value)
        return value and mask_keys(value, NAME_KEY_PATTERN)


class AdminKeyNameInput(KeyNameInput, AdminTextInputWidget):
    pass
