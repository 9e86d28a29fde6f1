from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Company, Membership, Role
from config.errors import ValidationFailed

User = get_user_model()


def company_get_or_create(*, name: str) -> Company:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A company name needs 1 to 100 characters.", details={"name": name[:100]})
    company, _ = Company.objects.get_or_create(name=name)
    return company


def user_create(*, username: str, password: str, email: str = "") -> User:
    user = User(username=username, email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed("The password is too weak: " + " ".join(exc.messages), code="weak_password") from None
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def membership_set(*, user: User, company: Company, role: str) -> Membership:
    """Add the user to the company with this role, or change the role they already have."""
    if role not in Role.values:
        raise ValidationFailed(f"Role must be one of {', '.join(Role.values)}.", code="invalid_role")
    membership, created = Membership.objects.get_or_create(user=user, company=company, defaults={"role": role})
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership
