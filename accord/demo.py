"""A believable demo alliance: organisations, users, sharing groups and generated intelligence.

`build_demo(app)` fills a freshly initialised database through the same services every face uses
(the members service for the alliance, `Accord.submit` for intelligence), so the demo runs the real
rules: vetting, roles, TLP audiences, versions, revocation, one transaction per submission.

Everything is made up. Organisations that exist in real life carry "(demo)" in their name, the
others are invented; people are invented; IP addresses come only from the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and domains only from reserved
names (`.example`, `.test`, `example.com`), so nothing here points at anyone's real infrastructure.
The same seed gives the same ids and the same content.

`demo_intelligence()` is the generator alone (no database): what each analyst submits, with whom
it is shared, as `DemoSubmission`s.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from accord.app import Accord
from accord.errors import Conflict
from accord.intel.timestamps import now_micros
from accord.intel.tlp import EMIT_ID, TLP
from accord.members.auth import hash_password
from accord.members.model import OPERATOR

PASSWORD = "demo-password-2026"  # noqa: S105 - the one published password of every demo account
START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # the generated activity spans the ~6 months after
SPAN_DAYS = 170
MIN_OBJECTS = 100

# --- the alliance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoOrg:
    key: str
    name: str
    sector: str
    country: str
    stix_sectors: tuple[str, ...]
    pending: bool = False


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    org: str  # DemoOrg.key
    role: str
    language: str
    platform_admin: bool = False
    also: tuple[str, str] | None = None  # (a second organisation's key, the role there)


ORGS: tuple[DemoOrg, ...] = (
    DemoOrg("ec3", "European Cybercrime Centre (demo)", "international", "NL", ("law-enforcement",)),
    DemoOrg("cert-pl", "CERT Polska (demo)", "csirt", "PL", ("technology",)),
    DemoOrg("cert-br", "CERT.br (demo)", "csirt", "BR", ("technology",)),
    DemoOrg("cert-in", "CERT-In (demo)", "csirt", "IN", ("government", "technology")),
    DemoOrg("krcert", "KrCERT/CC (demo)", "csirt", "KR", ("technology",)),
    DemoOrg("cert-fr", "CERT-FR (demo)", "csirt", "FR", ("government", "technology")),
    DemoOrg("mj", "Ministério da Justiça e Segurança Pública (demo)", "government", "BR", ("government",)),
    DemoOrg(
        "moi", "Ministry of Interior, Cybercrime Directorate (demo)", "government", "MA", ("government",)
    ),
    DemoOrg(
        "pn",
        "Policía Nacional, Unidad Central de Ciberdelincuencia (demo)",
        "law-enforcement",
        "ES",
        ("law-enforcement",),
    ),
    DemoOrg(
        "pf", "Polícia Federal, Crimes Cibernéticos (demo)", "law-enforcement", "BR", ("law-enforcement",)
    ),
    DemoOrg("banco", "Banco Exemplo S.A.", "business", "BR", ("financial-services",)),
    DemoOrg("telecom", "Telecom Demo Africa", "business", "KE", ("telecommunications",)),
    DemoOrg("etl", "Example Threat Labs", "business", "SG", ("technology",)),
    DemoOrg("ice", "Instituto de Ciberseguridad Ejemplo", "csirt", "MX", ("technology",), pending=True),
)
ORG_BY_KEY = {o.key: o for o in ORGS}

USERS: tuple[DemoUser, ...] = (
    DemoUser(
        "sophie.vandijk@ec3-demo.example", "Sophie van Dijk", "ec3", "org-admin", "en", platform_admin=True
    ),
    DemoUser("dmitri.volkov@ec3-demo.example", "Дмитрий Волков", "ec3", "analyst", "ru"),
    DemoUser("lena.hoffmann@ec3-demo.example", "Lena Hoffmann", "ec3", "reader", "en"),
    DemoUser("anna.kowalska@cert-pl-demo.example", "Anna Kowalska", "cert-pl", "analyst", "en"),
    DemoUser("piotr.nowak@cert-pl-demo.example", "Piotr Nowak", "cert-pl", "org-admin", "en"),
    DemoUser("joao.silva@cert-br-demo.example", "João Silva", "cert-br", "analyst", "pt"),
    DemoUser("mariana.costa@cert-br-demo.example", "Mariana Costa", "cert-br", "reader", "pt"),
    DemoUser("priya.sharma@cert-in-demo.example", "प्रिया शर्मा", "cert-in", "analyst", "en"),
    DemoUser("minjun.kim@krcert-demo.example", "김민준", "krcert", "analyst", "en"),
    DemoUser("seoyeon.lee@krcert-demo.example", "이서연", "krcert", "org-admin", "en"),
    DemoUser("camille.durand@cert-fr-demo.example", "Camille Durand", "cert-fr", "analyst", "fr"),
    DemoUser("julien.moreau@cert-fr-demo.example", "Julien Moreau", "cert-fr", "reader", "fr"),
    DemoUser("ana.souza@mj-demo.example", "Ana Beatriz Souza", "mj", "org-admin", "pt"),
    DemoUser("fatima.benali@moi-demo.example", "فاطمة الزهراء بنعلي", "moi", "analyst", "ar"),
    DemoUser("youssef.elamrani@moi-demo.example", "يوسف العمراني", "moi", "reader", "fr"),
    DemoUser("lucia.fernandez@pn-demo.example", "Lucía Fernández", "pn", "analyst", "es"),
    DemoUser("javier.ruiz@pn-demo.example", "Javier Ruiz", "pn", "org-admin", "es"),
    DemoUser(
        "rafael.oliveira@pf-demo.example", "Rafael Oliveira", "pf", "analyst", "pt", also=("mj", "reader")
    ),
    DemoUser("carla.mendes@banco-exemplo.example", "Carla Mendes", "banco", "analyst", "pt"),
    DemoUser("paulo.ribeiro@banco-exemplo.example", "Paulo Ribeiro", "banco", "org-admin", "pt"),
    DemoUser("amina.wanjiru@telecom-demo-africa.example", "Amina Wanjiru", "telecom", "analyst", "en"),
    DemoUser("otieno.kamau@telecom-demo-africa.example", "Otieno Kamau", "telecom", "reader", "en"),
    DemoUser("wang.wei@example-threat-labs.example", "王伟", "etl", "analyst", "zh"),
    DemoUser("li.chen@example-threat-labs.example", "陈丽", "etl", "reader", "zh"),
    DemoUser("diego.hernandez@ciberseguridad-ejemplo.example", "Diego Hernández", "ice", "analyst", "es"),
)
USER_BY_EMAIL = {u.email: u for u in USERS}

# (name, owner org, member orgs): the owner is a member too, so it reads what is shared with the group.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("EU ransomware taskforce", "ec3", ("ec3", "cert-fr", "cert-pl", "pn", "etl")),
    ("LATAM banking fraud", "cert-br", ("cert-br", "banco", "pf", "mj")),
    ("Mobile fraud and smishing (Africa-Asia)", "telecom", ("telecom", "cert-in", "krcert", "moi", "etl")),
)

# --- what the alliance tracks ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Theatre:
    key: str
    lead: str  # the organisation that publishes the malware, intrusion set and threat actor
    malware: tuple[tuple[str, tuple[str, ...], str], ...]  # (name, malware_types, description)
    intrusion_set: tuple[str, tuple[str, ...], str]  # (name, aliases, description)
    actor: tuple[str, str, str, str]  # (name, threat_actor_type, sophistication, description)
    words: tuple[str, ...]
    paths: tuple[str, ...]
    kinds: tuple[tuple[str, int], ...]  # indicator kinds and their weights


THEATRES: tuple[_Theatre, ...] = (
    _Theatre(
        "banking",
        "cert-br",
        (
            (
                "Exemplo Banker",
                ("trojan", "spyware"),
                "Banking trojan spread through fake boleto and Pix e-mails; overlays bank log-in pages and "
                "steals one-time codes.",
            ),
            (
                "PixGrabber-Demo",
                ("remote-access-trojan",),
                "Android remote-access trojan that abuses accessibility services to start Pix transfers.",
            ),
        ),
        (
            "Copper Otter",
            ("Quadrilha Exemplo crew",),
            "Financially motivated crew targeting bank customers in Latin America and Iberia.",
        ),
        (
            "Quadrilha Exemplo",
            "crime-syndicate",
            "intermediate",
            "Fraud syndicate renting banking-trojan infrastructure and money-mule networks.",
        ),
        (
            "banco",
            "pix",
            "boleto",
            "fatura",
            "seguro",
            "atualizacao",
            "token",
            "acesso",
            "cliente",
            "conta",
            "credito",
            "suporte",
            "banco-exemplo",
            "cartao",
            "premio",
        ),
        (
            "/pix/confirmar.php?id={n}",
            "/boleto/{n}.pdf.exe",
            "/atualizacao/modulo-seguranca.msi",
            "/cliente/login.html",
            "/app/{w}-{n}.apk",
        ),
        (
            ("ipv4", 18),
            ("ipv6", 3),
            ("cidr", 2),
            ("domain", 30),
            ("url", 25),
            ("sha256", 12),
            ("md5", 3),
            ("email", 4),
            ("combo", 3),
        ),
    ),
    _Theatre(
        "ransomware",
        "ec3",
        (
            (
                "LockDemo",
                ("ransomware",),
                "Ransomware-as-a-service encryptor; affiliates steal data first, "
                "then extort through a leak site.",
            ),
            (
                "GhostLoader-Demo",
                ("downloader", "backdoor"),
                "Loader delivered by malicious advertising and fake software updates; stages LockDemo.",
            ),
        ),
        (
            "Grey Lantern",
            ("GL affiliates",),
            "Ransomware affiliate cluster hitting European municipalities, hospitals and small firms.",
        ),
        (
            "Grey Lantern affiliates",
            "crime-syndicate",
            "advanced",
            "Affiliates of the LockDemo programme sharing initial-access brokers and a leak site.",
        ),
        (
            "update",
            "cdn",
            "sync",
            "backup",
            "files",
            "share",
            "vpn",
            "portal",
            "mirror",
            "static",
            "api",
            "telemetry",
            "cloud",
            "docs",
            "auth",
        ),
        (
            "/download/{w}-setup.exe",
            "/gate.php",
            "/api/v{d}/beacon",
            "/wp-content/uploads/{n}.dll",
            "/leak/{n}",
        ),
        (
            ("ipv4", 25),
            ("ipv6", 8),
            ("cidr", 3),
            ("domain", 20),
            ("url", 10),
            ("sha256", 24),
            ("md5", 4),
            ("combo", 6),
        ),
    ),
    _Theatre(
        "phishing",
        "telecom",
        (
            (
                "SMSpy-Demo",
                ("spyware",),
                "Android SMS stealer delivered through parcel-delivery, tax-refund "
                "and mobile-money smishing.",
            ),
        ),
        (
            "Silent Heron",
            ("SMS Heron",),
            "Smishing operation impersonating postal, tax and mobile-money services in Africa, the Middle "
            "East and South Asia.",
        ),
        (
            "Silent Heron operators",
            "criminal",
            "intermediate",
            "Loose network of smishing kit sellers and operators paid per stolen card or wallet.",
        ),
        (
            "parcel",
            "delivery",
            "colis",
            "track",
            "tax",
            "refund",
            "impots",
            "wallet",
            "verify",
            "sim",
            "mobile",
            "recharge",
            "promo",
            "post",
            "livraison",
            "suivi",
            "mpesa",
        ),
        (
            "/track/{code}",
            "/colis/suivi?id={code}",
            "/refund/claim.html",
            "/wallet/verify.php",
            "/apk/{w}.apk",
        ),
        (("ipv4", 12), ("ipv6", 3), ("domain", 36), ("url", 30), ("sha256", 6), ("email", 10), ("combo", 3)),
    ),
    _Theatre(
        "botnet",
        "krcert",
        (
            (
                "Mirage-IoT-Demo",
                ("bot", "ddos"),
                "IoT botnet of weakly protected cameras and routers; sells DDoS and residential proxies.",
            ),
        ),
        (
            "Paper Kite",
            ("Mirage operators",),
            "Operators of the Mirage-IoT-Demo botnet and its proxy-for-hire service.",
        ),
        (
            "Paper Kite operators",
            "criminal",
            "intermediate",
            "Small team running the botnet's control panels and its proxy storefront.",
        ),
        ("iot", "node", "relay", "upd", "fw", "dvr", "cam", "gate", "panel", "proxy", "bins", "cnc"),
        ("/bins/{arch}", "/panel/login.php", "/fw/{n}.bin", "/proxy/list.txt"),
        (("ipv4", 42), ("ipv6", 12), ("cidr", 6), ("domain", 8), ("url", 14), ("sha256", 15), ("combo", 3)),
    ),
)
THEATRE_BY_KEY = {t.key: t for t in THEATRES}

#              CLEAR GREEN AMBER A+S  RED  none
_TLP_MIX = {
    "csirt": (15, 45, 20, 7, 3, 10),
    "law-enforcement": (3, 20, 35, 15, 12, 15),
    "business": (5, 35, 30, 10, 5, 15),
    "international": (5, 30, 35, 12, 8, 10),
    "government": (10, 30, 30, 10, 10, 10),
}
_LEVELS: tuple[TLP | None, ...] = (TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED, None)


@dataclass(frozen=True)
class _Producer:
    analyst: str  # e-mail of the submitting analyst
    weight: float  # share of the generated objects
    theatres: tuple[str, ...]
    share: tuple[str, ...]  # org:NAME / group:NAME / user:EMAIL, as `Accord.resolve_share` reads them


def _org(key: str) -> str:
    return "org:" + ORG_BY_KEY[key].name


PRODUCERS: tuple[_Producer, ...] = (
    _Producer(
        "dmitri.volkov@ec3-demo.example",
        1.2,
        ("ransomware", "ransomware", "banking"),
        (
            "group:EU ransomware taskforce",
            "user:camille.durand@cert-fr-demo.example",
            "user:lucia.fernandez@pn-demo.example",
        ),
    ),
    _Producer(
        "camille.durand@cert-fr-demo.example",
        1.0,
        ("ransomware", "phishing"),
        ("group:EU ransomware taskforce", _org("ec3"), "user:dmitri.volkov@ec3-demo.example"),
    ),
    _Producer(
        "anna.kowalska@cert-pl-demo.example",
        1.0,
        ("ransomware", "botnet", "phishing"),
        ("group:EU ransomware taskforce", "user:dmitri.volkov@ec3-demo.example"),
    ),
    _Producer(
        "joao.silva@cert-br-demo.example",
        1.4,
        ("banking", "banking", "phishing"),
        (
            "group:LATAM banking fraud",
            _org("pn"),
            "user:rafael.oliveira@pf-demo.example",
            "user:carla.mendes@banco-exemplo.example",
        ),
    ),
    _Producer(
        "carla.mendes@banco-exemplo.example",
        0.8,
        ("banking",),
        ("group:LATAM banking fraud", "user:joao.silva@cert-br-demo.example"),
    ),
    _Producer(
        "rafael.oliveira@pf-demo.example",
        0.7,
        ("banking",),
        ("group:LATAM banking fraud", _org("pn"), "user:lucia.fernandez@pn-demo.example"),
    ),
    _Producer(
        "lucia.fernandez@pn-demo.example",
        0.7,
        ("banking", "ransomware"),
        (
            "group:EU ransomware taskforce",
            _org("pf"),
            _org("ec3"),
            "user:rafael.oliveira@pf-demo.example",
            "user:dmitri.volkov@ec3-demo.example",
        ),
    ),
    _Producer(
        "amina.wanjiru@telecom-demo-africa.example",
        0.9,
        ("phishing",),
        ("group:Mobile fraud and smishing (Africa-Asia)", "user:priya.sharma@cert-in-demo.example"),
    ),
    _Producer(
        "priya.sharma@cert-in-demo.example",
        1.0,
        ("phishing", "botnet"),
        (
            "group:Mobile fraud and smishing (Africa-Asia)",
            _org("krcert"),
            "user:amina.wanjiru@telecom-demo-africa.example",
        ),
    ),
    _Producer(
        "minjun.kim@krcert-demo.example",
        0.8,
        ("botnet",),
        (_org("cert-in"), _org("etl"), "user:wang.wei@example-threat-labs.example"),
    ),
    _Producer(
        "fatima.benali@moi-demo.example",
        0.5,
        ("phishing",),
        (
            "group:Mobile fraud and smishing (Africa-Asia)",
            _org("ec3"),
            "user:amina.wanjiru@telecom-demo-africa.example",
        ),
    ),
    _Producer(
        "wang.wei@example-threat-labs.example",
        1.2,
        ("ransomware", "botnet", "banking"),
        (
            "group:EU ransomware taskforce",
            "group:Mobile fraud and smishing (Africa-Asia)",
            "user:dmitri.volkov@ec3-demo.example",
        ),
    ),
)

# Values two organisations reported independently, each at TLP:GREEN (so every vetted member sees both
# reports): (value, kind, theatre, the two reporting organisations).
SHOWCASE: tuple[tuple[str, str, str, tuple[str, str]], ...] = (
    ("198.51.100.23", "ipv4", "banking", ("cert-br", "banco")),
    ("atualizacao-banco-exemplo.example", "domain", "banking", ("cert-br", "pf")),
    ("2001:db8:5ea::66", "ipv6", "ransomware", ("ec3", "cert-fr")),
    ("colis-suivi-livraison.test", "domain", "phishing", ("telecom", "moi")),
)
OVERLAPS = tuple(value for value, *_ in SHOWCASE)

_WHAT = {  # indicator names, in the analyst's language
    "en": {
        "ip": "C2 server",
        "cidr": "Hostile network range",
        "domain": "Malicious domain",
        "url": "Malicious URL",
        "hash": "Malware sample",
        "email": "Phishing sender",
        "combo": "C2 infrastructure",
        "report": "{title}: activity summary no. {n}",
    },
    "pt": {
        "ip": "Servidor C2",
        "cidr": "Faixa de rede hostil",
        "domain": "Domínio malicioso",
        "url": "URL maliciosa",
        "hash": "Amostra de malware",
        "email": "Remetente de phishing",
        "combo": "Infraestrutura de C2",
        "report": "{title}: resumo de atividade nº {n}",
    },
    "fr": {
        "ip": "Serveur C2",
        "cidr": "Plage réseau hostile",
        "domain": "Domaine malveillant",
        "url": "URL malveillante",
        "hash": "Échantillon de maliciel",
        "email": "Expéditeur d'hameçonnage",
        "combo": "Infrastructure C2",
        "report": "{title} : synthèse d'activité n° {n}",
    },
    "es": {
        "ip": "Servidor C2",
        "cidr": "Rango de red hostil",
        "domain": "Dominio malicioso",
        "url": "URL maliciosa",
        "hash": "Muestra de malware",
        "email": "Remitente de phishing",
        "combo": "Infraestructura C2",
        "report": "{title}: resumen de actividad n.º {n}",
    },
    "ar": {
        "ip": "خادم تحكم وسيطرة",
        "cidr": "نطاق شبكي معاد",
        "domain": "نطاق خبيث",
        "url": "رابط خبيث",
        "hash": "عينة برمجية خبيثة",
        "email": "مرسل رسائل تصيد",
        "combo": "بنية تحكم وسيطرة",
        "report": "{title}: ملخص النشاط رقم {n}",
    },
    "zh": {
        "ip": "C2 服务器",
        "cidr": "恶意网段",
        "domain": "恶意域名",
        "url": "恶意链接",
        "hash": "恶意软件样本",
        "email": "钓鱼邮件发件人",
        "combo": "C2 基础设施",
        "report": "{title}\uff1a活动摘要 第 {n} 期",
    },
    "ru": {
        "ip": "C2-сервер",
        "cidr": "Враждебный диапазон адресов",
        "domain": "Вредоносный домен",
        "url": "Вредоносный URL",
        "hash": "Образец ВПО",
        "email": "Отправитель фишинга",
        "combo": "Инфраструктура C2",
        "report": "{title}: сводка активности № {n}",
    },
}
_TITLES = {
    "banking": "Exemplo Banker fraud",
    "ransomware": "LockDemo ransomware",
    "phishing": "Silent Heron smishing",
    "botnet": "Mirage-IoT-Demo botnet",
}
_MAILBOXES = ("noreply", "suporte", "atendimento", "billing", "service", "notificacao", "support", "contact")
_ARCHES = ("arm7", "mips", "mpsl", "x86_64", "aarch64")
_NETS = ("192.0.2", "198.51.100", "203.0.113")
_CONFIDENCE = (50, 60, 70, 75, 80, 85, 90, 95)


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# --- the generator ---------------------------------------------------------------------------------


@dataclass
class DemoSubmission:
    """One `Accord.submit` call: who submits, to whom AMBER/RED go, and the objects."""

    analyst: str
    org: str  # DemoOrg.key the analyst acts for
    share: tuple[str, ...]
    objects: list[dict[str, Any]]
    what: str


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"https://accord.example/demo/{seed}")
        self.count = 0
        self.used: set[str] = {value for value, *_ in SHOWCASE}
        # (theatre, kind) -> [(value, producing org)], for values other organisations may report too
        self.seen: dict[tuple[str, str], list[tuple[str, str]]] = {}
        pool = [f"{net}.{host}" for net in _NETS for host in range(1, 255)]
        self.rng.shuffle(pool)
        self.ipv4_pool = [ip for ip in pool if ip not in self.used]
        self.identity: dict[str, str] = {}
        self.targets: dict[str, list[str]] = {}  # theatre -> malware and intrusion-set ids

    def id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}--{uuid.uuid5(self.namespace, f'{kind}/{self.count}')}"

    def when(self, low: float = 0.0, high: float = 1.0) -> datetime:
        seconds = self.rng.uniform(low, high) * SPAN_DAYS * 86400
        return START + timedelta(seconds=int(seconds), milliseconds=self.rng.randrange(1000))

    # --- values -------------------------------------------------------------------------------

    def _fresh(self, make: Callable[[], str], widen: Callable[[str], str] | None = None) -> str:
        """A value from `make` not used before; when collisions persist, `widen` varies one.

        Without `widen`, `make` must draw from a space far larger than any demo (hashes, IPv6)."""
        while True:
            for _ in range(50):
                value = make()
                if value not in self.used:
                    self.used.add(value)
                    return value
            if widen is not None:
                value = widen(value)
                if value not in self.used:
                    self.used.add(value)
                    return value

    def _ipv6(self, theatre: str) -> str:
        t = list(THEATRE_BY_KEY).index(theatre)
        return self._fresh(
            lambda: (
                f"2001:db8:{t + 1:x}{self.rng.randrange(0x100):02x}:{self.rng.randrange(1, 0x10000):x}::"
                f"{self.rng.randrange(1, 0x10000):x}"
            )
        )

    def _domain(self, th: _Theatre) -> str:
        def make() -> str:
            a, b, c = self.rng.sample(th.words, 3)
            form = self.rng.randrange(4)
            if form == 0:
                return f"{a}-{b}.example"
            if form == 1:
                return f"{a}{b}{self.rng.randint(2, 999)}.test"
            if form == 2:
                return f"{a}.{b}-{c}.example"
            return f"{a}-{b}.example.com"

        return self._fresh(make, lambda d: f"{self.rng.choice(th.words)}{self.rng.getrandbits(24):06x}.{d}")

    def _url(self, th: _Theatre, host: str) -> str:
        def make() -> str:
            path = self.rng.choice(th.paths).format(
                n=self.rng.randint(100, 99999),
                w=self.rng.choice(th.words),
                d=self.rng.randint(1, 4),
                arch=self.rng.choice(_ARCHES),
                code=f"{self.rng.getrandbits(40):010x}",
            )
            return f"{'http' if self.rng.random() < 0.3 else 'https'}://{host}{path}"

        return self._fresh(make, lambda u: f"{u}{'&' if '?' in u else '?'}s={self.rng.getrandbits(32):08x}")

    def value(self, th: _Theatre, kind: str, org: str) -> str:
        """A value of `kind`: now and then one another organisation reported (an overlap)."""
        seen = self.seen.setdefault((th.key, kind), [])
        if seen and kind not in ("md5",) and self.rng.random() < 0.07:
            others = [v for v, o in seen if o != org]
            if others:
                return self.rng.choice(others)
        if kind == "ipv4":
            value = self.ipv4_pool.pop() if self.ipv4_pool else self._ipv6(th.key)
            self.used.add(value)
        elif kind == "ipv6":
            value = self._ipv6(th.key)
        elif kind == "cidr":

            def make_cidr() -> str:  # IPv4 /27-/29s run out after ~170; IPv6 /48s do not
                if self.rng.random() < 0.3:
                    return f"2001:db8:{self.rng.randrange(0x10000):x}::/48"
                plen = self.rng.choice((27, 28, 29))
                host = self.rng.randrange(256) & (0xFF << (32 - plen)) & 0xFF
                return f"{self.rng.choice(_NETS)}.{host}/{plen}"

            value = self._fresh(make_cidr)
        elif kind == "domain":
            value = self._domain(th)
        elif kind == "url":
            host = self.value(th, "domain", org) if self.rng.random() < 0.8 else self.value(th, "ipv4", org)
            value = self._url(th, host)
        elif kind == "sha256":
            value = self._fresh(lambda: f"{self.rng.getrandbits(256):064x}")
        elif kind == "md5":
            value = self._fresh(lambda: f"{self.rng.getrandbits(128):032x}")
        else:  # email
            value = f"{self.rng.choice(_MAILBOXES)}@{self.value(th, 'domain', org)}"
            self.used.add(value)
        seen.append((value, org))
        return value

    # --- objects ------------------------------------------------------------------------------

    def _common(self, kind: str, org: str, when: datetime, tlp: TLP | None, **props: Any) -> dict[str, Any]:
        t = _ts(when)
        obj: dict[str, Any] = {
            "type": kind,
            "spec_version": "2.1",
            "id": self.id(kind),
            "created_by_ref": self.identity[org],
            "created": t,
            "modified": t,
        }
        obj.update(props)
        if tlp is not None:
            obj["object_marking_refs"] = [EMIT_ID[tlp]]
        return obj

    def identity_of(self, org: DemoOrg) -> dict[str, Any]:
        ident = self.id("identity")
        self.identity[org.key] = ident
        return {
            "type": "identity",
            "spec_version": "2.1",
            "id": ident,
            "created_by_ref": ident,
            "created": _ts(START),
            "modified": _ts(START),
            "name": org.name,
            "identity_class": "organization",
            "sectors": list(org.stix_sectors),
            "contact_information": f"cti@{org.key}-demo.example",
            "object_marking_refs": [EMIT_ID[TLP.CLEAR]],
        }

    def theatre_objects(self, th: _Theatre) -> list[dict[str, Any]]:
        """The lead's malware, intrusion set and threat actor, and how they relate."""
        org, first_seen = th.lead, _ts(START - timedelta(days=self.rng.randint(60, 400)))
        out: list[dict[str, Any]] = []
        when = self.when(0.0, 0.05)
        for name, types, description in th.malware:
            out.append(
                self._common(
                    "malware",
                    org,
                    when,
                    TLP.GREEN,
                    name=name,
                    description=description,
                    malware_types=list(types),
                    is_family=True,
                    first_seen=first_seen,
                )
            )
        name, aliases, description = th.intrusion_set
        iset = self._common(
            "intrusion-set",
            org,
            when,
            TLP.GREEN,
            name=name,
            aliases=list(aliases),
            description=description,
            first_seen=first_seen,
            resource_level="organization",
            primary_motivation="personal-gain",
        )
        name, actor_type, sophistication, description = th.actor
        actor = self._common(
            "threat-actor",
            org,
            when,
            TLP.AMBER,
            name=name,
            description=description,
            threat_actor_types=[actor_type],
            sophistication=sophistication,
            resource_level="organization",
            primary_motivation="personal-gain",
        )
        self.targets[th.key] = [m["id"] for m in out] + [iset["id"]]
        rels = [self._relationship(org, when, TLP.GREEN, "uses", iset["id"], m["id"]) for m in out]
        rels.append(self._relationship(org, when, TLP.AMBER, "attributed-to", iset["id"], actor["id"]))
        return [*out, iset, actor, *rels]

    def _relationship(
        self, org: str, when: datetime, tlp: TLP | None, rtype: str, source: str, target: str
    ) -> dict[str, Any]:
        return self._common(
            "relationship", org, when, tlp, relationship_type=rtype, source_ref=source, target_ref=target
        )

    def indicator(
        self,
        org: str,
        lang: str,
        th: _Theatre,
        tlp: TLP | None,
        kind: str | None = None,
        value: str | None = None,
    ) -> dict[str, Any]:
        if kind is None:
            kind = self.rng.choices([k for k, _ in th.kinds], [w for _, w in th.kinds])[0]
        what = _WHAT[lang]
        if kind == "combo":
            domain, ip = self.value(th, "domain", org), self.value(th, "ipv4", org)
            addr = "ipv6-addr" if ":" in ip else "ipv4-addr"  # IPv6 once the IPv4 ranges are used up
            pattern = f"[domain-name:value = '{domain}'] OR [{addr}:value = '{ip}']"
            name = f"{what['combo']}: {domain} / {ip}"
        else:
            value = value or self.value(th, kind, org)
            if kind in ("ipv4", "ipv6", "cidr"):
                addr = "ipv6-addr" if ":" in value else "ipv4-addr"
                op = "ISSUBSET" if "/" in value else "="
                pattern = f"[{addr}:value {op} '{value}']"
                label = what["cidr" if "/" in value else "ip"]
            elif kind in ("sha256", "md5"):
                key = "'SHA-256'" if kind == "sha256" else "MD5"
                pattern = f"[file:hashes.{key} = '{value}']"
                label = what["hash"]
            elif kind == "email":
                pattern = f"[email-message:from_ref.value = '{value}']"
                label = what["email"]
            else:
                pattern = f"[{'url' if kind == 'url' else 'domain-name'}:value = '{value}']"
                label = what[kind]
            name = f"{label}: {value}"
        types = ["compromised"] if kind == "url" and self.rng.random() < 0.15 else ["malicious-activity"]
        when = self.when()
        return self._common(
            "indicator",
            org,
            when,
            tlp,
            name=name,
            indicator_types=types,
            pattern=pattern,
            pattern_type="stix",
            valid_from=_ts(when),
            confidence=self.rng.choice(_CONFIDENCE),
            lang=lang,
            labels=[th.key],
        )

    def report(
        self, org: str, lang: str, th: _Theatre, tlp: TLP | None, n: int, refs: list[str]
    ) -> dict[str, Any]:
        when = self.when(0.5, 1.0)
        name = _WHAT[lang]["report"].format(title=_TITLES[th.key], n=n)
        description = f"Indicators and context on {_TITLES[th.key]} seen by {ORG_BY_KEY[org].name}."
        return self._common(
            "report",
            org,
            when,
            tlp,
            name=name,
            published=_ts(when),
            report_types=["threat-report"],
            description=description,
            object_refs=refs,
            lang=lang,
        )

    def tlp(self, sector: str) -> TLP | None:
        return self.rng.choices(_LEVELS, _TLP_MIX[sector])[0]

    # --- submissions --------------------------------------------------------------------------

    def produce(self, p: _Producer, budget: int) -> list[dict[str, Any]]:
        user = USER_BY_EMAIL[p.analyst]
        org = ORG_BY_KEY[user.org]
        out: list[dict[str, Any]] = []
        for value, kind, theatre, reporters in SHOWCASE:
            if org.key in reporters:
                th = THEATRE_BY_KEY[theatre]
                out.append(self.indicator(org.key, user.language, th, TLP.GREEN, kind, value))
                self.seen.setdefault((theatre, kind), []).append((value, org.key))
        recent: dict[str, list[str]] = {t: [] for t in p.theatres}  # indicators for the next report
        reports = 0
        every = self.rng.randint(12, 30)
        while len(out) < budget:
            th = THEATRE_BY_KEY[self.rng.choice(p.theatres)]
            tlp = self.tlp(org.sector)
            ind = self.indicator(org.key, user.language, th, tlp)
            out.append(ind)
            recent[th.key].append(ind["id"])
            if len(out) < budget and self.rng.random() < 0.4:
                target = self.rng.choice(self.targets[th.key])
                when = datetime.fromisoformat(ind["created"])
                out.append(self._relationship(org.key, when, tlp, "indicates", ind["id"], target))
            if len(out) < budget and len(recent[th.key]) >= every:
                reports += 1
                level = self.rng.choice((TLP.GREEN, TLP.GREEN, TLP.AMBER, TLP.CLEAR, None))
                refs = recent[th.key][:15] + self.targets[th.key]
                out.append(self.report(org.key, user.language, th, level, reports, refs))
                recent[th.key], every = [], self.rng.randint(12, 30)
        return out

    def updates(self, earlier: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
        """Second versions of some earlier objects (a few cleared from AMBER to GREEN), and revocations."""
        showcase = {value for value, *_ in SHOWCASE}
        indicators = [
            o for o in earlier if o["type"] == "indicator" and o["name"].split(": ")[-1] not in showcase
        ]
        families = [o for o in earlier if o["type"] == "malware"]
        revoke = max(1, budget // 25)
        chosen = self.rng.sample(indicators, min(budget - min(len(families), 1), len(indicators)))
        chosen += families[: budget - len(chosen)]
        out = []
        for i, old in enumerate(chosen):
            new = dict(old)
            later = datetime.fromisoformat(old["modified"]) + timedelta(
                days=self.rng.randint(3, 40), minutes=self.rng.randint(1, 600)
            )
            new["modified"] = _ts(later)
            if old["type"] == "malware":
                new["aliases"] = [old["name"].split("-")[0] + " v2"]
                new["description"] = old["description"] + " A second version appeared in the autumn."
            elif i < revoke:
                new["revoked"] = True
                new["description"] = "Revoked: false positive (shared hosting, now clean)."
            else:
                new["confidence"] = min(100, old["confidence"] + 10)
                new["valid_until"] = _ts(later + timedelta(days=90))
                new["description"] = "Confirmed by a second source; still active."
                if old.get("object_marking_refs") == [EMIT_ID[TLP.AMBER]] and self.rng.random() < 0.3:
                    new["object_marking_refs"] = [EMIT_ID[TLP.GREEN]]
                    new["description"] = "Cleared for community sharing after the take-down."
            out.append(new)
        return out


def demo_intelligence(objects: int = 3000, seed: int = 7) -> list[DemoSubmission]:
    """The generated intelligence, as the submissions that store it (no database needed).

    Exactly `objects` objects in all, but never fewer than `MIN_OBJECTS`: the alliance's own story
    (identities, malware, actors, the overlaps, every TLP level, versions, a revocation) needs those.
    """
    objects = max(objects, MIN_OBJECTS)
    gen = _Generator(seed)
    producers = {USER_BY_EMAIL[p.analyst].org: p for p in PRODUCERS}
    submissions: dict[str, DemoSubmission] = {}
    for org_key, p in producers.items():
        identity = gen.identity_of(ORG_BY_KEY[org_key])
        submissions[org_key] = DemoSubmission(p.analyst, org_key, p.share, [identity], f"demo:{org_key}")
    for th in THEATRES:
        submissions[th.lead].objects += gen.theatre_objects(th)
    fixed = sum(len(s.objects) for s in submissions.values())
    update_budget = max(4, objects // 50)
    rest = max(0, objects - fixed - update_budget)
    total_weight = sum(p.weight for p in PRODUCERS)
    budgets = [int(rest * p.weight / total_weight) for p in PRODUCERS]
    for i in range(rest - sum(budgets)):
        budgets[i % len(budgets)] += 1
    for p, budget in zip(PRODUCERS, budgets, strict=True):
        org_key = USER_BY_EMAIL[p.analyst].org
        submissions[org_key].objects += gen.produce(p, budget)
    out = list(submissions.values())
    for org_key, budget in (("cert-br", update_budget // 2), ("cert-fr", update_budget - update_budget // 2)):
        p = producers[org_key]
        updates = gen.updates(submissions[org_key].objects, budget)
        out.append(DemoSubmission(p.analyst, org_key, p.share, updates, f"demo:{org_key}:updates"))
    return out


# --- building it -----------------------------------------------------------------------------------


def build_demo(
    app: Accord,
    objects: int = 3000,
    progress: Callable[[int], None] | None = None,
    seed: int = 7,
) -> list[str]:
    """Build the demo alliance on a freshly initialised database; return the log-in instructions."""
    org_ids: dict[str, int] = {}
    with app.db.write() as conn:
        if app.members.list_orgs(conn):
            raise Conflict("the demo needs an empty database: this one has organisations already")
        for o in ORGS:
            org_ids[o.key] = app.members.add_org(conn, OPERATOR, o.name, o.sector, o.country, o.pending)
        user_ids: dict[str, int] = {}
        # One argon2 hash for every account: hashing costs 0.1-0.4 s here, 25 of them would be most of
        # the demo's build time, and the password is published anyway (so a shared salt hides nothing).
        shared_hash = hash_password(PASSWORD)
        for u in USERS:
            user_ids[u.email] = app.members.add_user(
                conn,
                OPERATOR,
                u.email,
                org_ids[u.org],
                u.role,
                name=u.name,
                language=u.language,
                platform_admin=u.platform_admin,
                password_hash=shared_hash,
            )
            if u.also is not None:
                app.members.add_user(conn, OPERATOR, u.email, org_ids[u.also[0]], u.also[1])
        for name, owner, members in GROUPS:
            app.members.add_group(conn, OPERATOR, name, org_ids[owner], [org_ids[m] for m in members])
        first = next(u for u in USERS if u.role == "analyst")
        token = app.members.create_token(
            conn,
            OPERATOR,
            user_ids[first.email],
            org_ids[first.org],
            label="demo",
            expires_days=app.settings.token_default_days or None,
        ).token

    for sub in demo_intelligence(objects, seed):
        viewer = app.viewer(sub.analyst, ORG_BY_KEY[sub.org].name, source="demo")
        share = app.resolve_share(viewer, sub.share)
        parsed = [(i, obj, orjson.dumps(obj).decode()) for i, obj in enumerate(sub.objects)]
        app.submit(viewer, parsed, share=share, progress=progress, what=sub.what)
    _demo_sightings(app)

    return _login_lines(first, token)


def _demo_sightings(app: Accord) -> None:
    """Two other organisations report sightings of the first report of each showcase value, so the
    demo shows sightings reaching producers and scores rising with corroboration."""
    now = now_micros()
    analysts = [p.analyst for p in PRODUCERS]
    for n, (value, _kind, _theatre, (first, _second)) in enumerate(SHOWCASE):
        producer = ORG_BY_KEY[first]
        reporter = next(a for a in analysts if USER_BY_EMAIL[a].org == first)
        viewer = app.viewer(reporter, producer.name, source="demo")
        ids = [
            m["id"]
            for m in app.lookup(viewer, [value])[0]["matches"]
            if m["type"] == "indicator" and m["producer"] == producer.name
        ]
        if not ids:
            continue
        others = [a for a in analysts if USER_BY_EMAIL[a].org != first][n : n + 2]
        for k, email in enumerate(others):
            sighter = app.viewer(email, ORG_BY_KEY[USER_BY_EMAIL[email].org].name, source="demo")
            app.report_sighting(sighter, ids[0], count=3 + n + k, last_seen_us=now - k * 3_600_000_000)


def _login_lines(first: DemoUser, token: str) -> list[str]:
    width = max(len(u.email) for u in USERS)
    lines = []
    for u in USERS:
        org = ORG_BY_KEY[u.org]
        notes = [f"{u.name}, {u.language}"]
        if u.platform_admin:
            notes.append("platform administrator")
        if u.also is not None:
            notes.append(f"also {u.also[1]} in {ORG_BY_KEY[u.also[0]].name}")
        if org.pending:
            notes.append("organisation pending vetting: sees TLP:CLEAR only")
        lines.append(f"{u.email:<{width}}  {u.role:<9}  {org.name} ({org.country}); {'; '.join(notes)}")
    lines += [
        "",
        f"Password for every account above: {PASSWORD}",
        f"API token of {first.email} ({first.role}, {ORG_BY_KEY[first.org].name}):",
        f"  {token}",
        f"  e.g. curl -H 'Authorization: Bearer {token}' <server>/api/v1/objects?limit=5",
        "Reported by two organisations each (look them up, or `accord related`): " + ", ".join(OVERLAPS),
        "Each first report was sighted by two more organisations (`accord score`, `accord sighting list`)",
    ]
    return lines
