"""Tenant descriptions from scenario files (``scenarios/*.yaml``, the ``tenant:`` section): seed, profile,
mailboxes by type, explicit AD users, OUs, sync and org settings. Used by ``POST /_mock/tenants {"scenario"}``
and by the scenario runner."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml
from faker import Faker

from .errors import InvalidArgument, NotFound
from .onprem.ad import EXO_TO_REMOTE_TYPE

#: Where scenario files are looked up, in order: the ones shipped with the package (package data of
#: ``hybridsoa.mock.scenarios``, the repository's ``scenarios/`` in an editable install), then the cwd's.
SCENARIO_DIRS = [Path(str(files("hybridsoa.mock.scenarios"))), Path.cwd() / "scenarios"]

TENANT_KEYS = {"name", "seed", "profile", "mailboxes", "adUsers", "sync", "settings", "org", "description"}


def scenario_names() -> list[str]:
    """Every scenario name :func:`find_scenario` can find, once each (the same folder or name seen twice, as when
    the mock runs from the repository, is listed once), in lookup order then alphabetically."""
    names: list[str] = []
    seen_dirs: set[Path] = set()
    for folder in SCENARIO_DIRS:
        folder = folder.resolve()
        if folder in seen_dirs or not folder.is_dir():
            continue
        seen_dirs.add(folder)
        names += [p.stem for p in sorted(folder.glob("*.yaml")) if p.stem not in names]
    return names


def find_scenario(name: str) -> Path:
    """Path of scenario ``name`` (a file path, or a name looked up in :data:`SCENARIO_DIRS`)."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    for folder in SCENARIO_DIRS:
        for ext in (".yaml", ".yml"):
            path = folder / f"{name}{ext}"
            if path.is_file():
                return path
    raise NotFound(f"Scenario '{name}' not found (looked in {', '.join(str(d) for d in SCENARIO_DIRS)}).")


def load_scenario(name: str) -> dict:
    """Parse a scenario file into a dict with ``name``, ``tenant`` and ``steps``."""
    path = find_scenario(name)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"Scenario '{path.name}' is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"Scenario '{path.name}' must be a mapping with 'tenant' and 'steps'.")
    data.setdefault("name", path.stem)
    data.setdefault("tenant", {})
    data.setdefault("steps", [])
    validate_tenant_description(data["tenant"])
    return data


def validate_tenant_description(desc: dict) -> None:
    """Reject unknown keys and malformed values in a ``tenant:`` section."""
    if not isinstance(desc, dict):
        raise InvalidArgument("'tenant' must be a mapping.")
    unknown = set(desc) - TENANT_KEYS
    if unknown:
        raise InvalidArgument(f"Unknown tenant keys: {', '.join(sorted(unknown))}.")
    boxes = desc.get("mailboxes", 0)
    if isinstance(boxes, dict):
        bad = set(boxes) - set(EXO_TO_REMOTE_TYPE)
        if bad:
            raise InvalidArgument(f"Unknown mailbox types: {', '.join(sorted(bad))}.")
    elif not isinstance(boxes, int):
        raise InvalidArgument("'mailboxes' must be a number or a mapping of RecipientTypeDetails to counts.")


def tenant_description(scenario: str | dict) -> dict:
    """The tenant description for a scenario name/path, or an inline description (validated)."""
    if isinstance(scenario, dict):
        validate_tenant_description(scenario)
        return scenario
    if not isinstance(scenario, str) or not scenario.strip():
        raise InvalidArgument("'scenario' must be a scenario name or a tenant description object.")
    return load_scenario(scenario)["tenant"]


def mailbox_total(desc: dict) -> int:
    """How many generated mailboxes a description asks for."""
    boxes = desc.get("mailboxes", 0)
    return sum(boxes.values()) if isinstance(boxes, dict) else int(boxes)


def apply_tenant_description(tenant, desc: dict) -> None:
    """Seed a freshly built tenant (identities already present) from a description, then run an Initial cycle."""
    from .seed import default_ous, new_ad_user, seed_onprem

    ous = default_ous(tenant)
    tenant.sync.settings.setdefault("ouScope", [ous["Corp"]])
    if "profile" in desc:
        tenant.settings["profile"] = desc["profile"]
    tenant.settings.update(desc.get("settings") or {})
    tenant.org_config.update(desc.get("org") or {})
    boxes = desc.get("mailboxes", 0)
    if isinstance(boxes, dict):
        fake = Faker("en_US")
        fake.seed_instance(tenant.seed)
        taken = {u.sam_account_name.lower() for u in tenant.ad_users}
        for exo_type, count in boxes.items():
            kind = EXO_TO_REMOTE_TYPE[exo_type]
            for _ in range(int(count)):
                given, sn = fake.first_name(), fake.last_name()
                base = (f"{given[0]}{sn}" if exo_type == "UserMailbox" else f"{exo_type[:2]}-{sn}").lower()
                base = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:16]
                sam, n = base, 1
                while sam in taken:
                    n += 1
                    sam = f"{base}{n}"
                taken.add(sam)
                display = f"{given} {sn}" if exo_type == "UserMailbox" else f"{exo_type[:-7]} {sn}"
                ou = (
                    ous["Users"]
                    if exo_type == "UserMailbox"
                    else ous["Shared" if exo_type == "SharedMailbox" else "Resources"]
                )
                new_ad_user(
                    tenant,
                    sam,
                    display=display,
                    given=given if exo_type == "UserMailbox" else None,
                    sn=sn if exo_type == "UserMailbox" else None,
                    kind=kind,
                    ou=ou,
                )
    elif boxes:
        seed_onprem(tenant, int(boxes))
    for spec in desc.get("adUsers") or []:
        spec = dict(spec)
        sam = spec.pop("sam")
        exo_type = spec.pop("type", "UserMailbox")
        if exo_type not in EXO_TO_REMOTE_TYPE:
            raise InvalidArgument(f"adUsers[{sam}]: unknown type '{exo_type}'.")
        ou_name = spec.pop("ou", None)
        ad_ou = ous.get(ou_name, ou_name) if ou_name else None
        display = spec.pop("displayName", sam)
        new_ad_user(
            tenant,
            sam,
            display=display,
            given=spec.pop("givenName", None),
            sn=spec.pop("sn", None),
            kind=EXO_TO_REMOTE_TYPE[exo_type],
            ou=ad_ou,
            department=spec.pop("department", None),
            title=spec.pop("title", None),
            extra=spec,
        )
    sync = dict(desc.get("sync") or {})
    writeback = sync.pop("writeback", None)
    tenant.sync.settings.update(sync)
    if writeback is not None:
        tenant.sync.settings.setdefault("writeback", {}).update(writeback)
    tenant.sync.run_cycle("Initial", scheduled=False)
