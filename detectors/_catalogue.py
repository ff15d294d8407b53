"""The synthetic organisation of :mod:`clearance.detectors.workload`: roles, resources, volumes."""

from dataclasses import dataclass

# action -> (median bytes, sigma of log bytes); None: the action moves no data
VOLUMES: dict[str, tuple[float, float] | None] = {
    "data.read": (2e5, 1.0),
    "data.query": (5e4, 1.0),
    "data.export": (2e7, 0.8),
    "data.write": (1e6, 1.0),
    "data.delete": None,
    "report.create": (1e5, 0.5),
    "schema.update": None,
    "pipeline.run": None,
    "infra.deploy": None,
    "infra.restart": None,
    "infra.scale": None,
    "logs.read": (5e5, 1.0),
    "secrets.read": (2e3, 0.3),
    "ticket.read": (2e4, 0.7),
    "ticket.update": (5e3, 0.5),
    "customer.read": (3e4, 0.7),
    "kb.search": (1e4, 0.5),
    "iam.role.grant": None,
    "iam.policy.update": None,
    "iam.key.create": None,
    "admin.user.create": None,
}


@dataclass(frozen=True)
class Role:
    kind: str
    actions: dict[str, float]
    # (resource type, id prefix, count, sensitivity weights public/internal/confidential/restricted)
    pools: tuple[tuple[str, str, int, tuple[float, float, float, float]], ...]
    count: int


ROLES: dict[str, Role] = {
    "analyst": Role(
        "human",
        {"data.read": 0.55, "data.query": 0.3, "report.create": 0.1, "data.export": 0.05},
        (("dataset", "analytics", 24, (0.2, 0.6, 0.2, 0.0)),),
        10,
    ),
    "data-engineer": Role(
        "human",
        {
            "data.read": 0.4,
            "data.write": 0.3,
            "schema.update": 0.1,
            "pipeline.run": 0.15,
            "data.export": 0.05,
        },
        (
            ("dataset", "warehouse", 24, (0.0, 0.7, 0.3, 0.0)),
            ("pipeline", "etl", 8, (0.0, 1.0, 0.0, 0.0)),
        ),
        6,
    ),
    "finance": Role(
        "human",
        {"data.read": 0.6, "report.create": 0.25, "data.export": 0.1, "data.query": 0.05},
        (("dataset", "finance", 16, (0.0, 0.3, 0.5, 0.2)),),
        5,
    ),
    "hr": Role(
        "human",
        {"data.read": 0.6, "data.write": 0.3, "report.create": 0.1},
        (("dataset", "hr", 10, (0.0, 0.2, 0.4, 0.4)),),
        3,
    ),
    "sre": Role(
        "human",
        {
            "logs.read": 0.45,
            "infra.deploy": 0.2,
            "infra.restart": 0.15,
            "infra.scale": 0.15,
            "secrets.read": 0.05,
        },
        (
            ("cluster", "k8s", 12, (0.0, 1.0, 0.0, 0.0)),
            ("secret", "infra", 6, (0.0, 0.0, 0.0, 1.0)),
        ),
        5,
    ),
    "support-agent": Role(
        "agent",
        {"ticket.read": 0.4, "customer.read": 0.3, "kb.search": 0.2, "ticket.update": 0.1},
        (
            ("ticket_queue", "support", 6, (0.0, 1.0, 0.0, 0.0)),
            ("dataset", "crm", 4, (0.0, 0.0, 1.0, 0.0)),
            ("kb", "kb", 4, (0.5, 0.5, 0.0, 0.0)),
        ),
        6,
    ),
    "etl": Role(
        "pipeline",
        {"data.read": 0.5, "data.write": 0.5},
        (("dataset", "raw", 10, (0.0, 0.8, 0.2, 0.0)),),
        4,
    ),
}

CROWN_JEWELS: tuple[tuple[str, str, str], ...] = (
    ("dataset", "customers_pii", "restricted"),
    ("dataset", "payroll", "restricted"),
    ("secret", "prod-db-root", "restricted"),
    ("secret", "payments-api-key", "restricted"),
    ("iam_role", "org-admin", "restricted"),
    ("dataset", "board_minutes", "confidential"),
    ("dataset", "m_and_a_pipeline", "restricted"),
    ("repository", "auth-service", "confidential"),
)
SENSITIVITIES = ("public", "internal", "confidential", "restricted")
TIME_ZONES = (0.0, 0.0, 0.0, 1.0, -5.0, 5.5)
