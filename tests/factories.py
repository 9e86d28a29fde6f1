import factory
from django.contrib.auth import get_user_model

from accounts.models import Company, Membership, Role
from keys.services import api_key_create

PASSWORD = "correct horse battery staple"


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Company {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def member(company: Company, role: str = Role.MEMBER, **user_fields):
    """A user with a membership in `company`."""
    user = UserFactory(**user_fields)
    Membership.objects.create(user=user, company=company, role=role)
    return user


def make_key(owner, company=None, **fields):
    """(ApiKey, raw key) through the real service, so tests exercise what users get."""
    company = company or owner.memberships.get().company
    fields.setdefault("name", "Test key")
    return api_key_create(company=company, owner=owner, **fields)
