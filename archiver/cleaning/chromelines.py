"""Chrome lines that extraction keeps inside the article: "Related: ...",
"Read more", reading time, share and comment counts, newsletter and
subscription promos, copyright lines, "Advertisement" labels, cookie
consent notices.

Each is recognised by what it says and by being short, in the languages of
the development pages (English, German, French, Spanish, Portuguese,
Italian, Chinese): a label at the start of a line, or a whole line that is
one of these things. A sentence of prose that happens to use one of the
words is longer than these lines are, or does not begin with the label.
They change on every visit (counts, promos, the headline of the day) and
are no part of the article; leaving them out keeps the verdict on it.
"""

from __future__ import annotations

import re

__all__ = ["chrome_line", "drop_chrome_lines"]

_SEP = r"\s*(?:[:：»›|>\-–—]+\s*|$)"

# Labels of related-content boxes and links: then a headline, or nothing.
_RELATED = (
    r"related(?: (?:articles?|stories|story|posts?|content|coverage|news|reading|links?|topics?))?"
    r"|read (?:more|also|next)|also read|see also|more on (?:this|that)(?: (?:story|topic))?|recommended(?: for you)?"
    r"|you (?:may|might) also (?:like|be interested in)|(?:most )?popular(?: on [^:：]{1,40})?|most (?:read|viewed|shared)"
    r"|trending(?: now)?|further reading|don'?t miss|more stories|more from [^:：]{1,40}|editor'?s picks?"
    # de
    r"|lesen sie (?:auch|mehr)|mehr zum thema|auch interessant|weitere artikel|siehe auch|meistgelesen\w*"
    r"|das könnte sie auch interessieren|empfehlungen|zum thema"
    # fr
    r"|(?:à )?lire aussi|lire la suite|(?:à )?voir aussi|sur le même sujet|les plus lus|articles? similaires?"
    r"|dans la même rubrique|à découvrir|notre sélection"
    # es
    r"|le[ae] también|leer más|ver también|(?:también )?te puede interesar|noticias relacionadas"
    r"|artículos relacionados|lo más leído|más noticias|te recomendamos"
    # pt
    r"|leia (?:também|mais)|veja também|saiba mais|mais lidas|notícias relacionadas|artigos relacionados"
    r"|você também pode gostar|relacionad[ao]s|recomendad[ao]s"
    # it
    r"|leggi (?:anche|di più)|vedi anche|(?:ti )?potrebbe interessarti|articoli correlati|i più letti"
    r"|ti potrebbe interessare|correlati"
    # zh
    r"|相关阅读|延伸阅读|相关新闻|相关文章|推荐阅读|更多阅读|热门文章|阅读更多|相關閱讀|延伸閱讀|相關新聞|推薦閱讀|热点推荐"
)
_RELATED_LINE = re.compile(rf"^(?:{_RELATED}){_SEP}", re.I)

_MINUTES = r"(?:min(?:ute)?s?|minuten|minutos?|minuti)\.?"
_READING_TIME = re.compile(
    rf"(?:^|\s|·|\|)\d{{1,3}}\s*-?\s*{_MINUTES}\s+(?:read|reading|lesezeit|lesedauer|de lecture|de leitura|de lectura"
    rf"|di lettura|lesen)\b"
    rf"|^(?:reading time|read time|lesezeit|lesedauer|temps de lecture|tempo de leitura|tiempo de lectura"
    rf"|tempo di lettura|leitura|lectura|lettura)\s*[:：]?\s*(?:ca\.\s*)?\d{{1,3}}\s*{_MINUTES}"
    rf"|^(?:阅读时间|閱讀時間|阅读时长)\s*[:：]?\s*\d{{1,3}}", re.I)

_COUNTED = (r"shares?|comments?|kommentare?|commentaires?|comentários?|comentarios?|commenti|partages?"
            r"|compartilhamentos?|compartidos|condivisioni|likes?|reactions?|reaktionen|réactions|reacciones|reações"
            r"|reazioni|views|aufrufe|vues|visualizaciones|visualizações|visualizzazioni")
_COUNTS = re.compile(
    rf"^(?:\d[\d.,\s]*[km]?\s*(?:{_COUNTED})\s*)+$"
    rf"|^(?:{_COUNTED})\s*[(\[]?\s*\d[\d.,]*[km]?\s*[)\]]?$"
    r"|^\d[\d.,]*\s*(?:条评论|條評論|评论|次分享|次阅读|阅读)$"
    r"|^(?:share|share this(?: article| story| post)?|share on \w+|teilen|artikel teilen|partager|partager cet article"
    r"|compartir|compartilhar|compartilhe|condividi|分享|分享到)\s*[:：]?$", re.I)

_PROMO_START = re.compile(
    r"^(?:sign up|subscribe|get (?:our|the)|join|register|abonnieren|melden sie sich|jetzt abonnieren"
    r"|abonnez-vous|inscrivez-vous|suscr[ií]b(?:ete|ase|irse)|reg[ií]strate|assine|inscreva-se|cadastre-se"
    r"|iscriviti|abbonati|订阅|免费订阅|訂閱)\b", re.I)
_PROMO_WORD = re.compile(
    r"newsletter|inbox|e-?mail|subscri|abonn|suscri|assinatura|assinante|cadastr|iscrizione|abbonamento"
    r"|订阅|訂閱|邮件|posteingang|boîte de réception|bandeja de entrada|caixa de entrada|casella di posta", re.I)
_NEWSLETTER_HEADING = re.compile(r"\bnewsletters?\b|订阅我们|訂閱我們", re.I)

_COPYRIGHT = re.compile(r"^(?:©|\(c\)\s|copyright\b)", re.I)
_RIGHTS = re.compile(r"all rights reserved|alle rechte vorbehalten|tous droits réservés|todos los derechos reservados"
                     r"|todos os direitos reservados|tutti i diritti riservati|版权所有|版權所有", re.I)

_AD_LABEL = re.compile(
    r"^(?:advertisements?|advertising|sponsored(?: content)?|ad|anzeige|werbung|publicit[ée]|publicidad|publicidade"
    r"|pubblicit[àa]|广告|廣告|scroll to continue(?: with content)?|(?:story|article) continues below(?: advertisement)?"
    r"|continue reading below|la suite après (?:cette )?publicité|weiter nach der anzeige"
    r"|(?:el )?artículo continúa (?:después|tras) (?:la|el) (?:publicidad|anuncio)|continua (?:dopo|a leggere dopo) la pubblicità"
    r"|continua depois da publicidade)\s*[:.]?$", re.I)

# A consent notice: who uses cookies, said as a site says it (an article about cookies does not begin so).
_CONSENT = re.compile(
    r"^(?:we|this (?:web)?site|our (?:web)?site|wir|diese (?:web)?seite|unsere (?:web)?seite|nous|ce site"
    r"|(?:nosotros )?(?:utilizamos|usamos)|este (?:sitio|site)|(?:noi )?utilizziamo|questo sito|本网站|我们)\b.*"
    r"(?:cookies?|本网站使用)", re.I)

_WORD = re.compile(r"\w+")


def _words(line: str) -> int:
    return len(_WORD.findall(line))


def chrome_line(line: str) -> str | None:
    """The kind of chrome a line of extracted text is, or None for article text."""
    text = line.strip().lstrip("-*•·▸►>").strip()
    if not text:
        return None
    words = _words(text)
    if words <= 25 and _RELATED_LINE.match(text):
        return "related"
    if words <= 12 and _READING_TIME.search(text):
        return "reading time"
    if words <= 6 and _COUNTS.match(text):
        return "counts"
    if words <= 30 and _PROMO_START.match(text) and _PROMO_WORD.search(text):
        return "promo"
    if words <= 6 and _NEWSLETTER_HEADING.search(text):
        return "promo"
    if words <= 30 and (_COPYRIGHT.match(text) or _RIGHTS.search(text)):
        return "copyright"
    if words <= 8 and _AD_LABEL.match(text):
        return "advertisement"
    if words <= 60 and _CONSENT.match(text):
        return "consent"
    return None


_NOTICE_PART_WORDS = 8  # a consent notice's heading and its buttons, beside it: short, no sentence


def _notice_part(line: str) -> bool:
    text = line.strip()
    return bool(text) and _words(text) <= _NOTICE_PART_WORDS and not re.search(r"[.!?。！？]$", text)


def drop_chrome_lines(paragraphs: list[str]) -> list[str]:
    """The paragraphs without chrome lines (a paragraph of several lines, a
    list, loses only its chrome lines). A consent notice goes with the short
    lines right before and after it (its heading, its buttons)."""
    lines = [(n, line) for n, paragraph in enumerate(paragraphs) for line in paragraph.split("\n")]
    kinds = [chrome_line(line) for _, line in lines]
    drop = [k is not None for k in kinds]
    for i, kind in enumerate(kinds):
        if kind != "consent":
            continue
        for step in (-1, 1):
            j = i + step
            for _ in range(2):
                if not 0 <= j < len(lines) or kinds[j] == "consent" or not _notice_part(lines[j][1]):
                    break
                drop[j] = True
                j += step
    if not any(drop):
        return paragraphs
    kept: dict[int, list[str]] = {}
    for (n, line), gone in zip(lines, drop):
        if not gone:
            kept.setdefault(n, []).append(line)
    return ["\n".join(kept[n]) for n in sorted(kept)]
