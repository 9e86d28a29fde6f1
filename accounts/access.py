"""Who may act on what, in one place: the API, the dashboard and admin all call these
functions, so the three surfaces can never disagree."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from accounts.models import KEY_ADMIN_ROLES, Company, Membership, Role
from config.errors import NotFound, PermissionDenied, ValidationFailed

User = get_user_model()
ORGANIZATION_HEADER = "X-Organization-Id"
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Actor:
    """A person (or a key acting for its owner) inside one company."""

    user: User
    company: Company
    role: str
    api_key: object | None = None

    @property
    def manages_company_keys(self) -> bool:
        return self.role in KEY_ADMIN_ROLES

    @property
    def manages_members(self) -> bool:
        return self.role == Role.OWNER


def _parse_company_id(raw: str) -> int:
    from config.parsing import ascii_int

    # The header, or the int the dashboard's switcher keeps in the session. Beyond a 64-bit id
    # the database refuses the lookup itself, hence MAX_ID.
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    return ascii_int(text, name=ORGANIZATION_HEADER, low=1, high=MAX_ID, code="invalid_organization")


def actor_for(user, company_id: str | int | None = None, api_key=None) -> Actor:
    """Resolve the company a call acts in.

    A key acts in its own company. A person acts in the company they name (the
    X-Organization-Id header or the dashboard's switcher), or in their only one.
    """
    if api_key is not None:
        # The owner's role was fetched with the key (keys.selectors.api_key_by_digest).
        if company_id not in (None, "") and _parse_company_id(company_id) != api_key.company_id:
            raise PermissionDenied(
                f"This API key belongs to company {api_key.company_id}; drop the {ORGANIZATION_HEADER} "
                "header or use a key of that company.",
                code="organization_mismatch",
            )
        return Actor(user=api_key.owner, company=api_key.company, role=api_key.owner_role, api_key=api_key)
    memberships = Membership.objects.select_related("company").filter(user=user)
    if company_id not in (None, ""):
        membership = memberships.filter(company_id=_parse_company_id(company_id)).first()
        if membership is None:
            raise NotFound(
                f"You are not a member of company {company_id}.",
                code="organization_not_found",
            )
        return Actor(user=user, company=membership.company, role=membership.role, api_key=api_key)
    found = list(memberships[:2])
    if not found:
        raise PermissionDenied(
            "Your account is not a member of any company; ask a company owner to add you.",
            code="no_company",
        )
    if len(found) > 1:
        raise ValidationFailed(
            f"You belong to several companies: name one with the {ORGANIZATION_HEADER} header.",
            code="organization_required",
            details={"companies": [{"id": m.company_id, "name": m.company.name} for m in memberships]},
        )
    return Actor(user=user, company=found[0].company, role=found[0].role, api_key=api_key)


def actor_from_request(request) -> Actor:
    """The actor of a DRF request, resolved once per request."""
    if not hasattr(request, "_actor"):
        api_key = request.auth if hasattr(request.auth, "owner_role") else None
        company_id = request.headers.get(ORGANIZATION_HEADER)
        if company_id is not None and not company_id.strip():
            # Sent but empty is a malformed id, not "no header": refuse it rather than guess.
            _parse_company_id(company_id)
        request._actor = actor_for(request.user, company_id, api_key=api_key)
    return request._actor


def key_check_manage(actor: Actor, key) -> None:
    """Members manage their own keys; admins and owners every key of their company.

    Another company's key is 404 so that its existence is not revealed.
    """
    if key.company_id != actor.company.pk:
        raise NotFound("No API key with this id in your company.", code="api_key_not_found")
    if key.owner_id != actor.user.pk and not actor.manages_company_keys:
        raise PermissionDenied(
            "Only the key's owner or a company admin may manage this key.",
            code="permission_denied",
        )


def member_check_access(actor: Actor, user_id: int):
    """The user behind /users/{user_id}/ routes: yourself, or anyone in your company if you
    are an admin or owner. Users outside the company are 404."""
    member = User.objects.filter(pk=user_id, memberships__company=actor.company).first()
    if member is None:
        raise NotFound(f"No user {user_id} in your company.", code="user_not_found")
    if member.pk != actor.user.pk and not actor.manages_company_keys:
        raise PermissionDenied(
            "Only company admins and owners may manage another member's keys.",
            code="permission_denied",
        )
    return member


def limits_check_manage(actor: Actor, key) -> None:
    """Anyone who may manage a key may read its limits; only admins and owners change them,
    so a member cannot lift the limit put on their own key."""
    key_check_manage(actor, key)
    if not actor.manages_company_keys:
        raise PermissionDenied("Only company admins and owners may change a key's limits.", code="permission_denied")


def company_keys_check(actor: Actor, doing: str) -> None:
    """Every key of the company, and the company's usage, are for its admins and owners; `doing`
    finishes the sentence that tells everyone else so, in the words of the surface asking."""
    if not actor.manages_company_keys:
        raise PermissionDenied(f"Only company admins and owners {doing}", code="permission_denied")


def policy_check_manage(actor: Actor) -> None:
    """Every member may read the company's key policy; only owners change it."""
    if not actor.manages_members:
        raise PermissionDenied("Only company owners may change the key policy; nothing changed.",
                               code="permission_denied")


def allowed(check, *args) -> bool:
    """Whether one of the checks above lets the actor through: for pages that offer a control
    only to those who may use it, by the same rule that refuses everyone else."""
    try:
        check(*args)
    except (PermissionDenied, NotFound):
        return False
    return True


def companies_administered_by(user):
    """The companies whose keys, usage and audit trail this person may see in Django admin."""
    if not user.is_active:
        return Company.objects.none()
    if user.is_superuser:
        return Company.objects.all()
    return Company.objects.filter(memberships__user=user, memberships__role__in=KEY_ADMIN_ROLES)


def companies_owned_by(user):
    """The companies whose memberships this person may change."""
    if user.is_superuser:
        return Company.objects.all()
    return Company.objects.filter(memberships__user=user, memberships__role=Role.OWNER)
