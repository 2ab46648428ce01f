"""Fault injection and throttling per tenant, in the spirit of Dev Proxy's RateLimiting and GraphRandomError
plugins: token buckets per (api, calling app) and fault rules (fixed status, probability, latency, expiry count).

Pure domain code: it decides, the wire layer renders. Time is the tenant clock (a frozen clock never refills a
bucket until a test advances it), and every random draw is derived from the tenant seed and the rule id."""

from __future__ import annotations

import fnmatch
import math
import random
from dataclasses import dataclass, field

from .errors import InvalidArgument, NotFound

APIS = ("exchange", "graph", "identity")
FAULT_STATUSES = (401, 429, 500, 502, 503, 504)
#: Retry-After we send with a fault rule's 429/503 when the rule names none (Dev Proxy's default is 5 s).
DEFAULT_RETRY_AFTER = 5


@dataclass
class FaultRule:
    """One injected fault: which requests it matches and what happens to them (status and/or latency)."""

    id: str
    api: str = "*"
    #: Exchange cmdlet name, glob, case-insensitive (``Set-*``).
    cmdlet: str | None = None
    #: Graph or identity path glob after the version segment (``/users/*``), case-insensitive.
    path: str | None = None
    method: str | None = None
    #: Calling app: client id (appid claim) or app display name.
    app: str | None = None
    #: Calling user UPN (delegated tokens, password grant).
    user: str | None = None
    status: int | None = None
    probability: float = 1.0
    latency_ms: list[int] | None = None
    #: Hits left before the rule expires (None = forever).
    count: int | None = None
    retry_after: int | None = None
    message: str | None = None
    #: With status 401: answer with a continuous-access-evaluation claims challenge (``error="insufficient_claims"``)
    #: instead of a plain ``invalid_token`` challenge.
    claims_challenge: bool = False
    #: Requests this rule matched (and drew a number for), and how many it actually faulted.
    evaluated: int = 0
    hits: int = 0

    def to_dict(self) -> dict:
        """Control-plane / snapshot form (camelCase, like the rest of /_mock)."""
        return {
            "id": self.id,
            "api": self.api,
            "cmdlet": self.cmdlet,
            "path": self.path,
            "method": self.method,
            "app": self.app,
            "user": self.user,
            "status": self.status,
            "probability": self.probability,
            "latencyMs": self.latency_ms,
            "count": self.count,
            "retryAfter": self.retry_after,
            "message": self.message,
            "claimsChallenge": self.claims_challenge,
            "evaluated": self.evaluated,
            "hits": self.hits,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FaultRule:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            id=data["id"],
            api=data.get("api") or "*",
            cmdlet=data.get("cmdlet"),
            path=data.get("path"),
            method=data.get("method"),
            app=data.get("app"),
            user=data.get("user"),
            status=data.get("status"),
            probability=data.get("probability", 1.0),
            latency_ms=data.get("latencyMs"),
            count=data.get("count"),
            retry_after=data.get("retryAfter"),
            message=data.get("message"),
            claims_challenge=bool(data.get("claimsChallenge")),
            evaluated=data.get("evaluated", 0),
            hits=data.get("hits", 0),
        )


@dataclass
class ThrottlePolicy:
    """A token bucket policy for one api: ``rate`` tokens per second of tenant time, at most ``burst``."""

    api: str
    rate: float
    burst: int

    def to_dict(self) -> dict:
        """Control-plane form."""
        return {"api": self.api, "rate": self.rate, "burst": self.burst}


@dataclass
class Bucket:
    """Tokens left for one (api, app) and when they were last counted (tenant time)."""

    tokens: float
    stamp: float


@dataclass
class FaultDecision:
    """What the wire layer must do with a request: reject it (``status``), delay it, and which headers to add."""

    #: "throttle", "fault" or "latency" (delay only).
    kind: str
    status: int | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    rule_id: str | None = None
    message: str | None = None
    #: A 401 that carries a claims challenge (see :attr:`FaultRule.claims_challenge`).
    claims_challenge: bool = False
    #: Exchange-style budget headers (Rate-Limit-Limit / -Remaining / -Reset), set whenever throttling is on.
    rate_headers: dict = field(default_factory=dict)

    @property
    def rejects(self) -> bool:
        """True when the request must be answered with an error and not dispatched."""
        return self.status is not None


class FaultState:
    """One tenant's fault rules and token buckets (``GET|POST|DELETE /_mock/tenants/{t}/faults``)."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.rules: list[FaultRule] = []
        self.throttling: dict[str, ThrottlePolicy] = {}
        self.buckets: dict[str, Bucket] = {}
        self._next_id = 1

    # ---------------------------------------------------------------- config
    def add_rule(self, spec: dict) -> FaultRule:
        """Add a fault rule from a validated spec (camelCase keys); returns it with its id."""
        status, latency = spec.get("status"), spec.get("latencyMs")
        if status is None and latency is None:
            raise InvalidArgument("A fault rule needs a status, a latencyMs range, or both.")
        if status is not None and status not in FAULT_STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(map(str, FAULT_STATUSES))}.")
        if latency is not None:
            if (
                not isinstance(latency, list)
                or len(latency) not in (1, 2)
                or not all(isinstance(x, int) and 0 <= x <= 120_000 for x in latency)
            ):
                raise InvalidArgument("latencyMs must be [min, max] in milliseconds (0 to 120000).")
            latency = [latency[0], latency[-1]]
            if latency[0] > latency[1]:
                raise InvalidArgument("latencyMs must be [min, max] with min <= max.")
        probability = spec.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
            raise InvalidArgument("probability must be a number from 0 to 1.")
        challenge = spec.get("claimsChallenge", False)
        if not isinstance(challenge, bool) or (challenge and status != 401):
            raise InvalidArgument("claimsChallenge must be a boolean, and true only with status 401.")
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise InvalidArgument("count must be a positive integer.")
        api = (spec.get("api") or "*").lower()
        if api not in APIS + ("*",):
            raise InvalidArgument(f"api must be one of {', '.join(APIS)} or *.")
        if status == 401 and api not in ("exchange", "graph"):
            # A resource refuses a token with 401; the token endpoint's own refusals are Entra errors, not faults.
            raise InvalidArgument("status 401 needs api exchange or graph.")
        rule = FaultRule(
            id=f"fault-{self._next_id}",
            api=api,
            cmdlet=spec.get("cmdlet"),
            path=spec.get("path"),
            method=(spec.get("method") or None) and spec["method"].upper(),
            app=spec.get("app"),
            user=spec.get("user"),
            status=status,
            probability=float(probability),
            latency_ms=latency,
            count=spec.get("count"),
            retry_after=spec.get("retryAfter"),
            message=spec.get("message"),
            claims_challenge=challenge,
        )
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule_id: str) -> FaultRule:
        """Delete one rule by id."""
        for i, rule in enumerate(self.rules):
            if rule.id == rule_id:
                return self.rules.pop(i)
        raise NotFound(f"Fault rule '{rule_id}' not found.")

    def set_throttle(self, api: str, rate: float, burst: int) -> ThrottlePolicy:
        """Turn on (or change) throttling for an api; buckets start full."""
        api = api.lower()
        if api not in APIS:
            raise InvalidArgument(f"api must be one of {', '.join(APIS)}.")
        if not rate > 0 or burst < 1:
            raise InvalidArgument("rate must be > 0 and burst >= 1.")
        policy = ThrottlePolicy(api=api, rate=float(rate), burst=int(burst))
        self.throttling[api] = policy
        self.buckets = {k: b for k, b in self.buckets.items() if not k.startswith(api + "|")}
        return policy

    def clear_throttle(self, api: str | None = None) -> None:
        """Turn throttling off for one api (or all)."""
        for name in [api.lower()] if api else list(self.throttling):
            self.throttling.pop(name, None)
            self.buckets = {k: b for k, b in self.buckets.items() if not k.startswith(name + "|")}

    def clear(self) -> None:
        """``DELETE /_mock/tenants/{t}/faults``: every rule and every throttle off."""
        self.rules.clear()
        self.throttling.clear()
        self.buckets.clear()

    # -------------------------------------------------------------- decision
    def check(
        self,
        api: str,
        *,
        method: str = "POST",
        path: str = "",
        cmdlet: str | None = None,
        app_id: str | None = None,
        user: str | None = None,
    ) -> FaultDecision | None:
        """Decide what happens to one request (call under the tenant lock, before dispatch). Throttling is
        evaluated first: a throttled request spends no fault-rule count. None means: let it through untouched."""
        if not self.throttling and not self.rules:  # the usual case: nothing configured
            return None
        now = self.tenant.clock.now()
        throttle = self._take_token(api, app_id, now)
        if throttle is not None and throttle.rejects:
            return throttle
        decision = self._apply_rules(api, method=method, path=path, cmdlet=cmdlet, app_id=app_id, user=user)
        if throttle is not None:
            if decision is None:
                return throttle
            decision.rate_headers = throttle.rate_headers
        return decision

    def _take_token(self, api: str, app_id: str | None, now: float) -> FaultDecision | None:
        policy = self.throttling.get(api)
        if policy is None:
            return None
        key = f"{api}|{(app_id or 'anonymous').lower()}"
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(tokens=float(policy.burst), stamp=now)
        elapsed = max(0.0, now - bucket.stamp)
        bucket.tokens = min(float(policy.burst), bucket.tokens + elapsed * policy.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return FaultDecision(kind="ok", rate_headers=self._rate_headers(policy, bucket, now))
        wait = math.ceil((1.0 - bucket.tokens) / policy.rate)
        return FaultDecision(
            kind="throttle", status=429, retry_after=max(1, wait), rate_headers=self._rate_headers(policy, bucket, now)
        )

    @staticmethod
    def _rate_headers(policy: ThrottlePolicy, bucket: Bucket, now: float) -> dict:
        from .clock import iso

        full_in = (policy.burst - bucket.tokens) / policy.rate
        return {
            "Rate-Limit-Limit": str(policy.burst),
            "Rate-Limit-Remaining": str(int(bucket.tokens)),
            "Rate-Limit-Reset": iso(now + math.ceil(full_in)).rstrip("Z") + ".000Z",
        }

    def _apply_rules(self, api, *, method, path, cmdlet, app_id, user) -> FaultDecision | None:
        latency = 0
        chosen: FaultRule | None = None
        for rule in list(self.rules):
            if not self._matches(rule, api, method, path, cmdlet, app_id, user):
                continue
            draw = random.Random(f"{self.tenant.seed}:{rule.id}:{rule.evaluated}")
            rule.evaluated += 1
            if draw.random() >= rule.probability:
                continue
            rule.hits += 1
            if rule.latency_ms:
                latency = max(latency, draw.randint(rule.latency_ms[0], rule.latency_ms[1]))
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            if rule.status is not None:
                chosen = rule
                break
        if chosen is None and not latency:
            return None
        if chosen is None:
            return FaultDecision(kind="latency", latency_ms=latency)
        retry = chosen.retry_after
        if retry is None and chosen.status in (429, 503):
            retry = DEFAULT_RETRY_AFTER
        return FaultDecision(
            kind="fault",
            status=chosen.status,
            retry_after=retry,
            latency_ms=latency,
            rule_id=chosen.id,
            message=chosen.message,
            claims_challenge=chosen.claims_challenge,
        )

    def _matches(self, rule: FaultRule, api, method, path, cmdlet, app_id, user) -> bool:
        if rule.api not in ("*", api):
            return False
        if rule.method and rule.method != method.upper():
            return False
        if rule.cmdlet and not (cmdlet and fnmatch.fnmatchcase(cmdlet.lower(), rule.cmdlet.lower())):
            return False
        if rule.path and not fnmatch.fnmatchcase(path.lower(), rule.path.lower()):
            return False
        if rule.app:
            wanted = rule.app.lower()
            app = self.tenant.app_by_client_id(app_id) if app_id else None
            if wanted != (app_id or "").lower() and not (app and app.name.lower() == wanted):
                return False
        return not (rule.user and (user or "").lower() != rule.user.lower())

    # ------------------------------------------------------------ snapshots
    def to_dict(self) -> dict:
        """Serializable state (rules with their counters, throttle policies, bucket levels)."""
        return {
            "rules": [r.to_dict() for r in self.rules],
            "throttling": {k: p.to_dict() for k, p in self.throttling.items()},
            "buckets": {k: [b.tokens, b.stamp] for k, b in self.buckets.items()},
            "nextId": self._next_id,
        }

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
        self.rules = [FaultRule.from_dict(r) for r in data.get("rules", [])]
        self.throttling = {
            k: ThrottlePolicy(api=p["api"], rate=p["rate"], burst=p["burst"])
            for k, p in data.get("throttling", {}).items()
        }
        self.buckets = {k: Bucket(tokens=v[0], stamp=v[1]) for k, v in data.get("buckets", {}).items()}
        self._next_id = data.get("nextId", len(self.rules) + 1)

    def describe(self) -> dict:
        """``GET /_mock/tenants/{t}/faults``."""
        return {
            "rules": [r.to_dict() for r in self.rules],
            "throttling": {api: (self.throttling[api].to_dict() if api in self.throttling else None) for api in APIS},
        }
