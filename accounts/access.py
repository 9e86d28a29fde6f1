"""Who may act on what, in one place: the API, the dashboard and admin all call these
functions, so the three surfaces can never disagree."""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User as AuthUser

from accounts.models import KEY_ADMIN_ROLES, Company, Membership, Role
from core.errors import ApplicationError, Forbidden, NotFound
from core.parsing import ascii_int

User = get_user_model()
ORGANIZATION_HEADER = "X-Organization-Id"
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Actor:
    """A person (or a key acting for its owner) inside one company."""

    user: AuthUser
    company: Company
    role: str
    api_key: object | None = None

    @property
    def manages_company_keys(self) -> bool:
        return self.role in KEY_ADMIN_ROLES

    @property
    def manages_members(self) -> bool:
        return self.role == Role.OWNER


@dataclass(frozen=True)
class Operator:
    """The deployment's operator: a management command, or a superuser in Django admin (`user`,
    for the audit trail). Acts in any company and is bound by no role (keys.grants)."""

    user: AuthUser | None = None
    api_key = None


OPERATOR = Operator()
# Who may act for whom: everyone for themselves, admins for members, owners for everyone.
ROLE_RANK: dict[str, int] = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


def _parse_company_id(raw: str | int) -> int:
    # The header, or the int the dashboard's switcher keeps in the session. Beyond a 64-bit id
    # the database refuses the lookup itself, hence MAX_ID.
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    return ascii_int(text, name=ORGANIZATION_HEADER, low=1, high=MAX_ID, code="invalid_organization",
                     where="header")


def actor_for(user, company_id: str | int | None = None, api_key=None) -> Actor:
    """Resolve the company a call acts in.

    A key (a keys.verification.KeyGrant, `user` its owner) acts in its own company, with the
    role its snapshot holds. A person acts in the company they name (the
    X-Organization-Id header or the dashboard's switcher), or in their only one.
    """
    if api_key is not None:
        if company_id not in (None, "") and _parse_company_id(company_id) != api_key.company_id:
            raise Forbidden(
                f"This API key belongs to company {api_key.company_id}; drop the {ORGANIZATION_HEADER} "
                "header or use a key of that company.",
                code="organization_mismatch",
            )
        return Actor(user=user, company=api_key.company(), role=api_key.owner_role, api_key=api_key)
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
        raise Forbidden(
            "Your account is not a member of any company; ask a company owner to add you.",
            code="no_company",
        )
    if len(found) > 1:
        raise ApplicationError(
            f"You belong to several companies: name one with the {ORGANIZATION_HEADER} header.",
            code="organization_required",
            extra={"companies": [{"id": m.company_id, "name": m.company.name} for m in memberships]},
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
        raise Forbidden(
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
        raise Forbidden(
            "Only company admins and owners may manage another member's keys.",
            code="permission_denied",
        )
    return member


def role_of(company_id: int, user_id: int) -> str | None:
    """The person's role in the company; None once they are no longer a member."""
    return Membership.objects.filter(company_id=company_id, user_id=user_id).values_list("role", flat=True).first()


def person_check_act_for(actor, owner_id: int, owner_role: str | None) -> None:
    """Whether the actor may obtain a key value for, mint a key for, or widen a key of this
    person: themselves; admins their members; owners everyone. Nobody acts for a person of a
    higher rank, so no one gains, through someone else's key, what their own role withholds."""
    if isinstance(actor, Operator) or owner_id == actor.user.pk or actor.role == Role.OWNER:
        return
    if actor.role == Role.ADMIN and ROLE_RANK.get(owner_role or "", 0) < ROLE_RANK[Role.ADMIN]:
        return
    who = "an owner's or another admin's" if actor.role == Role.ADMIN else "another member's"
    raise Forbidden(
        f"You may not obtain the value of, create or widen {who} keys; only company owners may "
        "(admins do so for members). Nothing changed.", code="permission_denied")


def keys_acted_for(actor, keys) -> set:
    """The ids of those `keys` (of the actor's company) whose value the actor may obtain or
    whose reach they may widen, by person_check_act_for: for pages that offer those controls
    only where they work. One query for the roles of their owners, however many keys."""
    owners = {key.owner_id for key in keys}
    roles = dict(Membership.objects.filter(company=actor.company, user_id__in=owners).values_list("user_id", "role"))
    return {key.pk for key in keys if allowed(person_check_act_for, actor, key.owner_id, roles.get(key.owner_id))}


def limits_check_manage(actor: Actor, key) -> None:
    """Anyone who may manage a key may read its limits; only admins and owners change them, and
    admins only those of members' keys: a member cannot lift the limit put on their own key, nor
    an admin the one an owner put on theirs."""
    key_check_manage(actor, key)
    if not actor.manages_company_keys:
        raise Forbidden("Only company admins and owners may change a key's limits.", code="permission_denied")
    if key.owner_id == actor.user.pk and actor.role != Role.OWNER:
        raise Forbidden("Only company owners may change the limits of an admin's keys.",
                               code="permission_denied")
    person_check_act_for(actor, key.owner_id, role_of(key.company_id, key.owner_id))


def company_keys_check(actor: Actor, doing: str) -> None:
    """Every key of the company, and the company's usage, are for its admins and owners; `doing`
    finishes the sentence that tells everyone else so, in the words of the surface asking."""
    if not actor.manages_company_keys:
        raise Forbidden(f"Only company admins and owners {doing}", code="permission_denied")


def policy_check_manage(actor: Actor) -> None:
    """Every member may read the company's key policy; only owners change it."""
    if not actor.manages_members:
        raise Forbidden("Only company owners may change the key policy; nothing changed.",
                               code="permission_denied")


def admin_actor(user, company_id: int):
    """Who acts in Django admin on a company's keys: a superuser as the operator, anyone else
    by their membership there."""
    return Operator(user=user) if user.is_superuser else actor_for(user, company_id)


def allowed(check, *args) -> bool:
    """Whether one of the checks above lets the actor through: for pages that offer a control
    only to those who may use it, by the same rule that refuses everyone else."""
    try:
        check(*args)
    except (Forbidden, NotFound):
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
