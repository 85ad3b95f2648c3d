"""Error stubs and bot walls by signal, in any family and many languages.

The rule files name the error pages of families one by one (Drupal,
WordPress, nginx...). A scheduled archive meets many more: application
servers, CDN and bot-wall interstitials, CAPTCHA pages, rate-limit pages, in
the site's own language. What they share is what this module looks for:

- a short page (little visible text, and less still that the extractor
  would call an article),
- whose words are error vocabulary (error, not found, unavailable, try
  again, forbidden, too many requests, verify you are human, enable
  JavaScript or cookies; request, incident or ray IDs; stack traces) in any
  of fourteen languages,
- and where independent signs agree: two kinds of error words, or the title
  or a heading saying what the text says, or a challenge's shape (a form or
  scripts and almost no words), or the HTTP response itself (`cf-mitigated`,
  DataDome or AWS WAF headers, a `Retry-After` on a 200).

A long page that quotes an error message is never a stub: every signal
needs the page to be short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["PageShape", "detect_stub", "SHORT_WORDS"]

SHORT_WORDS = 150  # more visible words than this: an article, whatever it says
ARTICLE_WORDS = 80  # more extracted words than this: an article
CHALLENGE_WORDS = 60  # a challenge page says almost nothing


def _any(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(words), re.I)


# Each category is a kind of thing error pages say. Phrases, not single
# common words, wherever a single word would be everyday article language.
CATEGORIES: dict[str, re.Pattern[str]] = {
    "error": _any(
        r"\berror\b", r"\boops\b", r"something went wrong", r"\berreur\b", r"\bfehler\b", r"\berrore\b",
        r"\berro\b", r"\bfout\b", r"\bhata\b", r"\bbłąd\b", r"ошибка", r"错误", r"出错", r"發生錯誤", r"エラー",
        r"오류", r"خطأ", r"se ha producido un error", r"ha ocurrido un error", r"une erreur est survenue",
        r"ein fehler ist aufgetreten", r"si è verificato un errore", r"ocorreu um erro",
    ),
    "not_found": _any(
        r"not (be )?found", r"doesn'?t exist", r"does not exist", r"no longer (available|exists)",
        r"nicht gefunden", r"existiert nicht", r"introuvable", r"n'existe (pas|plus)", r"no (se )?(ha )?encontr",
        r"no existe", r"non (è stata )?trovat", r"non esiste", r"não (foi )?encontrad", r"não existe",
        r"niet gevonden", r"bulunamadı", r"nie (został[ao]? )?znalezion", r"не найден", r"не существует",
        r"找不到", r"未找到", r"不存在", r"見つかりません", r"存在しません", r"찾을 수 없", r"존재하지 않",
        r"غير موجود", r"لم يتم العثور",
    ),
    "unavailable": _any(
        r"(temporarily |currently )?unavailable", r"under maintenance", r"scheduled maintenance",
        r"down for maintenance", r"be back (soon|shortly)", r"nicht verfügbar", r"vorübergehend",
        r"wartungsarbeiten", r"indisponible", r"en maintenance", r"no (está )?disponible", r"mantenimiento",
        r"non disponibile", r"manutenzione", r"indisponível", r"manutenção", r"niet beschikbaar", r"onderhoud",
        r"kullanılamıyor", r"bakım", r"niedostępn", r"недоступ", r"технические работы", r"暂时无法", r"维护",
        r"無法使用", r"メンテナンス", r"利用できません", r"점검", r"사용할 수 없", r"غير متاح", r"الصيانة",
    ),
    "retry": _any(
        r"try again", r"please retry", r"refresh the page", r"reload the page", r"versuchen sie es",
        r"später erneut", r"réessay", r"plus tard", r"vuelva a intentar", r"inténtelo", r"más tarde",
        r"riprova", r"più tardi", r"tente novamente", r"mais tarde", r"probeer het (later )?opnieuw",
        r"tekrar deneyin", r"spróbuj ponownie", r"попробуйте (ещё|еще|снова|позже)", r"请稍后再试", r"请重试",
        r"稍後再試", r"しばらくしてから", r"再度お試し", r"다시 시도", r"잠시 후", r"حاول مرة أخرى",
    ),
    "forbidden": _any(
        r"access (is )?denied", r"\bforbidden\b", r"not (authorized|authorised|allowed) to (access|view)",
        r"permission to access", r"you have been blocked", r"request (was |has been )?blocked", r"zugriff verweigert",
        r"zugang verweigert", r"accès refusé", r"acceso denegado", r"prohibido", r"accesso negato", r"vietato",
        r"acesso negado", r"proibido", r"toegang geweigerd", r"erişim engellendi", r"dostęp zabroniony",
        r"доступ (запрещ|закрыт|огранич)", r"拒绝访问", r"禁止访问", r"拒絕存取", r"アクセスが拒否", r"アクセス拒否",
        r"접근이 거부", r"액세스가 거부", r"تم رفض الوصول", r"ممنوع",
    ),
    "rate": _any(
        r"too many requests", r"rate limit", r"request limit", r"slow down", r"zu viele anfragen",
        r"trop de requêtes", r"demasiadas solicitudes", r"troppe richieste", r"muitas solicitações",
        r"te veel verzoeken", r"çok fazla istek", r"zbyt wiele żądań", r"слишком много запросов", r"请求过于频繁",
        r"請求過多", r"リクエストが多すぎ", r"요청이 너무 많", r"طلبات كثيرة",
    ),
    "human": _any(
        r"verify (that )?you are (a )?human", r"are you (a )?(human|robot)", r"not a robot", r"\bcaptcha\b",
        r"prove you'?re human", r"human verification", r"bot (detection|protection|check)", r"automated (access|requests|queries|traffic)",
        r"unusual traffic", r"security check", r"checking (your|if the site connection)", r"just a moment",
        r"sind sie ein mensch", r"kein roboter", r"êtes-vous un robot", r"pas un robot", r"no soy un robot",
        r"eres humano", r"non sono un robot", r"não sou um robô", r"geen robot", r"robot değil",
        r"nie jestem robotem", r"я не робот", r"подтвердите, что вы", r"人机验证", r"验证您是", r"我不是机器人",
        r"ロボットではありません", r"로봇이 아닙", r"لست روبوت",
    ),
    "enable": _any(
        r"enable (javascript|cookies|js)", r"(javascript|cookies) (is |are )?(required|disabled)",
        r"turn (on|off) (javascript|your ad ?blocker)", r"disable your ad ?blocker", r"javascript aktivieren",
        r"cookies aktivieren", r"activ(ez|er) (le )?javascript", r"habilite (el )?javascript", r"activa javascript",
        r"abilita(re)? javascript", r"ative o javascript", r"habilite o javascript", r"javascript inschakelen",
        r"javascript'?i etkinleştir", r"włącz javascript", r"включите javascript", r"启用 ?javascript",
        r"javascript を有効", r"javascript를 활성화", r"تمكين جافا ?سكريبت",
    ),
    "ids": _any(
        r"\bray id\b", r"\b(request|incident|reference|support|trace|correlation|error|event) (id|#|number|code)\b",
        r"\breference #", r"\bcf-ray\b", r"\bincident id\b",
    ),
    "trace": _any(
        r"traceback \(most recent call last\)", r"exception in thread", r"\bat [a-z]+(\.[a-z0-9_$]+){2,}\(",
        r"stack ?trace", r"(fatal|parse) error: .{0,200} on line \d+", r"\b[A-Z][A-Za-z]+(Exception|Error): ",
        r"\bSQLSTATE\[", r"\bORA-\d{5}\b", r"microsoft ole db", r"whitelabel error page", r"there was an unexpected error",
    ),
}
# These are what a wall says (verdict `blocked`), the rest what an error says.
WALL = frozenset({"human", "enable", "forbidden"})
# Status codes printed on the page itself ("404", "Error 503").
_STATUS_TEXT = re.compile(r"(?<![\d.,])(4(0[0-9]|1[0-8]|29|51)|5(0[0-8]|2[0-9]))(?![\d.,])")
_BOT_HEADERS = {
    "cf-mitigated": None,  # Cloudflare says it answered with a challenge
    "x-datadome": None,
    "x-datadome-cid": None,
    "x-amzn-waf-action": None,
    "x-sucuri-block": None,
    "x-distil-cs": None,
    "x-px-block": None,
}


@dataclass
class PageShape:
    """What a page looks like, for telling a stub from an article."""

    title: str = ""
    headings: list[str] = field(default_factory=list)  # h1 and h2 texts
    text: str = ""  # visible text (first few thousand characters)
    visible_words: int = 0
    article_words: int = 0  # words the extractor kept
    forms: int = 0
    scripts: int = 0
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def _categories(text: str) -> dict[str, str]:
    found = {}
    for name, pattern in CATEGORIES.items():
        m = pattern.search(text)
        if m:
            found[name] = m.group(0)
    return found


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def detect_stub(page: PageShape) -> tuple[str, str] | None:
    """(kind, reason) when the page is an error stub ("error") or a bot wall
    ("wall"), by signal; None for an article (or a page too long to judge)."""
    headers = page.headers
    bot = next((k for k in _BOT_HEADERS if _header(headers, k) is not None), None)
    if bot == "cf-mitigated" and (_header(headers, "cf-mitigated") or "").lower() == "challenge":
        return "wall", "bot wall: the response says cf-mitigated: challenge"
    short = page.visible_words <= SHORT_WORDS and page.article_words <= ARTICLE_WORDS
    if not short:
        return None
    if bot is not None:
        return "wall", f"bot wall: the response carries {bot} and the page is almost empty"
    found = _categories(page.text)
    top = " ".join([page.title, *page.headings])
    in_title: dict[str, str] = {}
    for line in (page.title, *page.headings):
        cats = _categories(line)
        if " " not in cats.get("error", " ") and len(line.split()) > 4:
            # "Council admits error in budget figures": one word of it is not a title about an error.
            del cats["error"]
        in_title.update(cats)
    status_said = _STATUS_TEXT.search(top) or (page.visible_words <= 40 and _STATUS_TEXT.search(page.text))
    wall = [c for c in (*found, *in_title) if c in WALL]
    kind = "wall" if wall else "error"
    what = "bot wall" if wall else "error page"

    def reason(why: str) -> tuple[str, str]:
        quoted = "; ".join(f'"{v}"' for v in list({**in_title, **found}.values())[:3])
        return kind, f"{what} (by signal: {why}): {quoted}" if quoted else f"{what} (by signal: {why})"

    n = len(found)
    agree = bool(in_title) or bool(status_said)
    if "trace" in found:
        return "error", f'error page (by signal: a stack trace): "{found["trace"]}"'
    if page.visible_words <= CHALLENGE_WORDS and (page.forms or page.scripts >= 3) and (
            wall or "ids" in found or not page.title.strip()):
        return "wall", "bot wall (by signal: a form or scripts and almost no text)" + (
            f': "{(found.get("human") or found.get("enable") or found.get("ids") or "")}"' if found else "")
    # A short note may say "error" and "try again" in passing; an error page
    # says more of it, or says it in its title too, or says little else.
    if n >= 3:
        return reason(f"{n} kinds of error words")
    if n >= 2 and ((agree and page.article_words <= 50) or page.visible_words <= 40):
        return reason(f"{n} kinds of error words" + (" and the title agrees" if agree else " and little else"))
    if n >= 1 and agree and page.article_words <= 40:
        return reason("the title says what the text says")
    if in_title and status_said:
        return reason("the title names an error status")
    if wall and page.visible_words <= CHALLENGE_WORDS and (agree or n >= 1):
        return reason("a challenge's words and almost no text")
    retry_after = _header(headers, "retry-after")
    if retry_after is not None and (page.status or 200) < 300:
        return "error", "error page (by signal: a Retry-After on a 200 with almost no text: rate limited)"
    return None
