"""Telegram's text formatting rules (HTML, MarkdownV2, Markdown), checked as the Bot API does.

The Bot API turns a formatted text into plain text plus entities before it sends a message, and
refuses the message with ``Bad Request: can't parse entities: ...`` when the markup breaks its
rules. The rules and the wording of the errors below follow Telegram's own parser (TDLib's
``MessageEntity.cpp``, which the Bot API server uses) and the "Formatting options" section of the
Bot API documentation:

* HTML: only ``b strong i em u ins s strike del span tg-spoiler tg-emoji a code pre blockquote``
  are tags; ``span`` needs ``class="tg-spoiler"``; tags must nest and close; a ``<`` that does not
  open a supported tag is an error. The named entities ``&lt; &gt; &amp; &quot;`` and every
  numeric entity are decoded.
* MarkdownV2: ``_ * [ ] ( ) ~ ` > # + - = | { } . !`` must be escaped with ``\\`` outside markup.
* Markdown (legacy): ``_ * ` [`` open entities that must be closed.

Offsets in entities and lengths are UTF-16 code units, as in the Bot API.

Note:
    Telegram keeps a ``&`` that does not start a supported entity (``AT&T``, ``&nbsp;``) as
    literal text; so does :func:`parse_html` unless ``strict_ampersand`` is set, in which case such
    an ``&`` is refused with a message that says it comes from the emulator's strict mode. Links
    are not checked the way Telegram checks them (Telegram silently drops an entity whose URL it
    cannot use), and the expandable block quotation of MarkdownV2 (``**>``) is not parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

SUPPORTED_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# html.parser decodes (and at the end of the input, drops) entities by HTML5 rules, not
# Telegram's; every "&" is hidden behind this one-character stand-in while it tokenises, so the
# offsets stay the same and the entities are decoded by Telegram's rules from the original text.
AMPERSAND_STAND_IN = "\ue000"
HTML_TAG_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}
MARKDOWN_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
TDLIB_SPACES = frozenset(" \t\r\n\v\0")

# The names Telegram's parser uses for an entity in its error messages.
ENTITY_NAMES_IN_ERRORS = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}


class EntityParseError(ValueError):
    """The text breaks Telegram's formatting rules; ``str()`` is Telegram's wording."""


@dataclass
class FormattedText:
    """A message as Telegram stores it: the visible text and its entities (UTF-16 offsets)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


def utf16_length(text: str) -> int:
    """Count ``text`` in UTF-16 code units, the unit of every Telegram length limit."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def byte_offset(text: str, index: int) -> int:
    """Return the UTF-8 byte offset of ``text[index]``, the unit of Telegram's error offsets."""
    return len(text[:index].encode("utf-8", "surrogatepass"))


def parse_formatted(
    text: str, parse_mode: str | None, *, strict_ampersand: bool = False
) -> FormattedText:
    """Turn ``text`` sent with ``parse_mode`` into what Telegram would show.

    Args:
        text: The ``text`` or ``caption`` parameter as received.
        parse_mode: ``HTML``, ``MarkdownV2``, ``Markdown`` or ``None``; matched without regard
            to case, like Telegram does.
        strict_ampersand: Refuse a ``&`` that does not start an entity in HTML (Telegram keeps
            it as text).

    Returns:
        The visible text and its entities.

    Raises:
        EntityParseError: The markup is invalid; the message follows Telegram's.
        ValueError: ``parse_mode`` is not one Telegram knows (``unsupported parse_mode``).
    """
    if not parse_mode:
        return FormattedText(text)

    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text, strict_ampersand=strict_ampersand)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise ValueError("unsupported parse_mode")


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    text_start: int
    expandable: bool = False


class _TelegramHtmlParser(HTMLParser):
    """Walks the markup with :mod:`html.parser` and applies Telegram's rules on every token."""

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        super().__init__(convert_charrefs=False)
        self._source = source
        self._strict_ampersand = strict_ampersand
        self._line_starts = [0] + [i + 1 for i, char in enumerate(source) if char == "\n"]
        self._pieces: list[str] = []
        self._visible_length = 0
        self._utf16 = 0
        self._open: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    @property
    def visible_text(self) -> str:
        return "".join(self._pieces)

    def finish(self) -> None:
        self.close()
        if self._open:
            raise EntityParseError(
                f"Can't find end tag corresponding to start tag {self._open[-1].name}"
            )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        position = self._position()
        if tag not in SUPPORTED_HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {self._byte(position)}'
            )

        values = {
            name: _decode_html_entities(value.replace(AMPERSAND_STAND_IN, "&"))
            if value is not None
            else None
            for name, value in attrs
        }
        argument = ""
        if tag == "a":
            argument = values.get("href") or ""
        elif tag == "code":
            css_class = (values.get("class") or "").lower()
            argument = (
                css_class.removeprefix("language-") if css_class.startswith("language-") else ""
            )
        elif tag == "span":
            if (values.get("class") or "").lower() != "tg-spoiler":
                offset = self._byte(position)
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                )
        elif tag == "tg-emoji":
            argument = values.get("emoji-id") or ""

        self._open.append(
            _OpenTag(
                name=tag,
                argument=argument,
                utf16_start=self._utf16,
                text_start=self._visible_length,
                expandable=tag == "blockquote" and "expandable" in values,
            )
        )

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        position = self._position()
        raw_name = self._tag_name_at(position + 1)
        raise EntityParseError(
            f'Unsupported start tag "{raw_name.lower()}" at byte offset {self._byte(position)}'
        )

    def handle_endtag(self, tag: str) -> None:
        position = self._position()
        if not self._open:
            raise EntityParseError(f"Unexpected end tag at byte offset {self._byte(position)}")

        raw_name = self._tag_name_at(position + 2).lower()
        after_name = position + 2 + len(raw_name)
        while after_name < len(self._source) and self._source[after_name] in TDLIB_SPACES:
            after_name += 1
        if self._source[after_name : after_name + 1] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {self._byte(position)}")

        expected = self._open[-1].name
        if raw_name and raw_name != expected:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {self._byte(position)}, "
                f'expected "</{expected}>", found "</{raw_name}>"'
            )

        self._close_entity(self._open.pop())

    def handle_data(self, data: str) -> None:
        position = self._position()
        original = self._source[position : position + len(data)]
        index = 0
        while index < len(original):
            char = original[index]
            if char == "<":
                raise self._stray_tag_error(position + index)
            if char == "&":
                decoded, consumed = _decode_html_entity(original, index)
                if decoded is None and self._strict_ampersand:
                    raise self._strict_ampersand_error(position + index)
                if decoded is not None:
                    self._append(decoded)
                    index += consumed
                    continue
            self._append(char)
            index += 1

    def handle_comment(self, data: str) -> None:
        raise self._stray_tag_error(self._position())

    def handle_decl(self, decl: str) -> None:
        raise self._stray_tag_error(self._position())

    def handle_pi(self, data: str) -> None:
        raise self._stray_tag_error(self._position())

    def unknown_decl(self, data: str) -> None:
        raise self._stray_tag_error(self._position())

    def _append(self, text: str) -> None:
        self._pieces.append(text)
        self._visible_length += len(text)
        self._utf16 += utf16_length(text)

    def _close_entity(self, tag: _OpenTag) -> None:
        length = self._utf16 - tag.utf16_start
        if length <= 0:
            return

        entity: dict[str, Any] = {"offset": tag.utf16_start, "length": length}
        if tag.name in HTML_TAG_ENTITY_TYPES:
            entity["type"] = HTML_TAG_ENTITY_TYPES[tag.name]
        elif tag.name == "a":
            url = tag.argument or self.visible_text[tag.text_start :]
            entity.update(type="text_link", url=url)
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.expandable else "blockquote"
        elif tag.name == "code":
            if self._ends_same_pre(entity) and tag.argument:
                self.entities[-1]["language"] = tag.argument
                return
            entity["type"] = "code"
            if tag.argument:
                entity["language"] = tag.argument
        elif tag.name == "pre":
            if self._ends_same_code_with_language(entity):
                code = self.entities.pop()
                entity.update(type="pre", language=code["language"])
            else:
                entity["type"] = "pre"
        self.entities.append(entity)

    def _ends_same_pre(self, entity: dict[str, Any]) -> bool:
        last = self.entities[-1] if self.entities else None
        return bool(
            last
            and last["type"] == "pre"
            and last["offset"] == entity["offset"]
            and last["length"] == entity["length"]
        )

    def _ends_same_code_with_language(self, entity: dict[str, Any]) -> bool:
        last = self.entities[-1] if self.entities else None
        return bool(
            last
            and last["type"] == "code"
            and "language" in last
            and last["offset"] == entity["offset"]
            and last["length"] == entity["length"]
        )

    def _stray_tag_error(self, position: int) -> EntityParseError:
        """Describe a ``<`` that opens no supported tag, in the words Telegram would use."""
        offset = self._byte(position)
        if self._source.startswith("</", position):
            if not self._open:
                return EntityParseError(f"Unexpected end tag at byte offset {offset}")
            return EntityParseError(f"Unclosed end tag at byte offset {offset}")

        name = self._tag_name_at(position + 1)
        if position + 1 + len(name) >= len(self._source):
            return EntityParseError(f"Unclosed start tag at byte offset {offset}")
        if name.lower() in SUPPORTED_HTML_TAGS:
            return EntityParseError(f"Unclosed start tag at byte offset {offset}")
        return EntityParseError(f'Unsupported start tag "{name.lower()}" at byte offset {offset}')

    def _strict_ampersand_error(self, position: int) -> EntityParseError:
        return EntityParseError(
            f'Unescaped "&" at byte offset {self._byte(position)} '
            "(refused by the emulator's strict_ampersand mode; Telegram keeps it as text)"
        )

    def _tag_name_at(self, start: int) -> str:
        end = start
        while end < len(self._source) and self._source[end] not in TDLIB_SPACES:
            if self._source[end] == ">":
                break
            end += 1
        return self._source[start:end]

    def _position(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def _byte(self, position: int) -> int:
        return byte_offset(self._source, position)


def _decode_html_entity(text: str, index: int) -> tuple[str | None, int]:
    """Decode the entity at ``text[index] == '&'`` the way Telegram does.

    Returns:
        The character and the number of characters consumed, or ``(None, 0)`` when the ``&``
        starts no entity Telegram supports (it then stays literal text).
    """
    end = index + 1
    if text.startswith("#", end):
        end += 1
        hexadecimal = text.startswith("x", end)
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        if hexadecimal:
            end += 1
        digits_start = end
        while end < len(text) and text[end] in digits:
            end += 1
        if end == digits_start or end - index >= 10:
            return None, 0
        code_point = int(text[digits_start:end], 16 if hexadecimal else 10)
        if code_point == 0 or code_point >= 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
            return None, 0
        character = chr(code_point)
    else:
        while end < len(text) and text[end].isascii() and text[end].isalpha():
            end += 1
        named = NAMED_HTML_ENTITIES.get(text[index + 1 : end])
        if named is None:
            return None, 0
        character = named

    if text.startswith(";", end):
        end += 1
    return character, end - index


def _decode_html_entities(text: str) -> str:
    """Decode every entity Telegram supports in ``text`` (an attribute value)."""
    pieces = []
    index = 0
    while index < len(text):
        decoded, consumed = _decode_html_entity(text, index) if text[index] == "&" else (None, 0)
        if decoded is None:
            pieces.append(text[index])
            index += 1
            continue
        pieces.append(decoded)
        index += consumed
    return "".join(pieces)


def parse_html(source: str, *, strict_ampersand: bool = False) -> FormattedText:
    """Parse Telegram HTML into visible text and entities.

    Args:
        source: The text as sent with ``parse_mode=HTML``.
        strict_ampersand: Refuse a ``&`` that starts no supported entity.

    Returns:
        The visible text and its entities, sorted by offset.

    Raises:
        EntityParseError: The markup breaks Telegram's rules.
    """
    parser = _TelegramHtmlParser(source, strict_ampersand=strict_ampersand)
    parser.feed(source.replace("&", AMPERSAND_STAND_IN))
    parser.finish()
    entities = sorted(parser.entities, key=lambda entity: (entity["offset"], -entity["length"]))
    return FormattedText(parser.visible_text, entities)


def _text_link(url: str) -> dict[str, Any]:
    if url.startswith("tg://user?id=") and url.removeprefix("tg://user?id=").isdigit():
        user_id = int(url.removeprefix("tg://user?id="))
        return {"type": "text_mention", "user": {"id": user_id, "is_bot": False, "first_name": ""}}
    return {"type": "text_link", "url": url}


def parse_markdown(source: str) -> FormattedText:
    """Parse legacy Telegram Markdown (``parse_mode=Markdown``) into visible text and entities.

    Raises:
        EntityParseError: An entity is opened and never closed.
    """
    pieces: list[str] = []
    entities: list[dict[str, Any]] = []
    utf16 = 0
    index = 0
    size = len(source)
    while index < size:
        char = source[index]
        if char == "\\" and index + 1 < size and source[index + 1] in "_*`[":
            pieces.append(source[index + 1])
            utf16 += 1
            index += 2
            continue
        if char not in "_*`[":
            pieces.append(char)
            utf16 += utf16_length(char)
            index += 1
            continue

        begin = index
        closing = "]" if char == "[" else char
        index += 1
        is_pre = char == "`" and source.startswith("``", index)
        language = ""
        if is_pre:
            index += 2
            language_end = index
            while language_end < size and source[language_end] not in TDLIB_SPACES | {"`"}:
                language_end += 1
            if language_end != index and language_end < size and source[language_end] != "`":
                language = source[index:language_end]
                index = language_end
            index = _skip_one_newline(source, index)

        entity_start = utf16
        while index < size and (
            source[index] != closing or (is_pre and not source.startswith("``", index + 1))
        ):
            pieces.append(source[index])
            utf16 += utf16_length(source[index])
            index += 1
        if index >= size:
            offset = byte_offset(source, begin)
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {offset}"
            )

        if utf16 > entity_start:
            entity: dict[str, Any] = {"offset": entity_start, "length": utf16 - entity_start}
            if char == "_":
                entity["type"] = "italic"
            elif char == "*":
                entity["type"] = "bold"
            elif char == "[":
                url = source[begin + 1 : index]
                if source.startswith("(", index + 1):
                    url_end = source.find(")", index + 2)
                    url_end = size if url_end < 0 else url_end
                    url = source[index + 2 : url_end]
                    index = url_end
                entity.update(_text_link(url))
            elif is_pre:
                entity["type"] = "pre"
                if language:
                    entity["language"] = language
            else:
                entity["type"] = "code"
            entities.append(entity)
        if is_pre:
            index += 2
        index += 1
    return FormattedText("".join(pieces), entities)


def _skip_one_newline(source: str, index: int) -> int:
    """Skip the one line break Telegram drops right after an opening code fence."""
    if index >= len(source) or source[index] not in "\r\n":
        return index
    pair = source[index : index + 2]
    if len(pair) == 2 and pair[1] in "\r\n" and pair[0] != pair[1]:
        return index + 2
    return index + 1


@dataclass
class _OpenMarkdownEntity:
    kind: str
    argument: str
    utf16_start: int
    markup_offset: int
    text_start: int


def _reserved_error(char: str) -> EntityParseError:
    return EntityParseError(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def _unclosed_error(source: str, entity: _OpenMarkdownEntity) -> EntityParseError:
    name = ENTITY_NAMES_IN_ERRORS.get(entity.kind, entity.kind)
    return EntityParseError(
        f"Can't find end of {name} entity at byte offset "
        f"{byte_offset(source, entity.markup_offset)}"
    )


class _MarkdownV2Parser:
    """One pass over a MarkdownV2 text, keeping a stack of the entities still open."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pieces: list[str] = []
        self.visible_length = 0
        self.utf16 = 0
        self.open: list[_OpenMarkdownEntity] = []
        self.entities: list[dict[str, Any]] = []
        self.in_blockquote = False

    def char(self, index: int) -> str:
        return self.source[index] if index < len(self.source) else ""

    def append(self, text: str) -> None:
        self.pieces.append(text)
        self.visible_length += len(text)
        self.utf16 += utf16_length(text)

    def parse(self) -> FormattedText:
        index = 0
        while index < len(self.source):
            index = self.step(index)

        if self.in_blockquote and self.open and self.open[-1].kind == "blockquote":
            self.close_top(None)
        if self.open:
            raise _unclosed_error(self.source, self.open[-1])
        entities = sorted(self.entities, key=lambda entity: (entity["offset"], -entity["length"]))
        return FormattedText("".join(self.pieces), entities)

    def step(self, index: int) -> int:
        char = self.source[index]
        following = self.char(index + 1)
        if char == "\\" and following and 0 < ord(following) <= 126:
            self.append(following)
            return index + 2

        in_code = bool(self.open) and self.open[-1].kind in {"code", "pre"}
        reserved = {"`"} if in_code else MARKDOWN_V2_RESERVED | {"\n"}
        if char not in reserved:
            self.append(char)
            return index + 1

        if self.ends_open_entity(index):
            return self.close_top(index)
        return self.open_entity(index)

    def ends_open_entity(self, index: int) -> bool:
        if not self.open:
            return False

        char = self.source[index]
        if self.in_blockquote and char == "\n" and self.char(index + 1) != ">":
            return True
        kind = self.open[-1].kind
        following = self.char(index + 1)
        closers = {
            "bold": char == "*",
            "italic": char == "_" and following != "_",
            "underline": char == "_" and following == "_",
            "strikethrough": char == "~",
            "spoiler": char == "|" and following == "|",
            "code": char == "`",
            "pre": self.source.startswith("```", index),
            "text_link": char == "]",
            "custom_emoji": char == "]",
        }
        return closers.get(kind, False)

    def open_entity(self, index: int) -> int:
        char = self.source[index]
        following = self.char(index + 1)
        kind = ""
        argument = ""
        markup_offset = index
        if char == "_" and following == "_":
            kind, index = "underline", index + 1
        elif char == "_":
            kind = "italic"
        elif char == "*":
            kind = "bold"
        elif char == "~":
            kind = "strikethrough"
        elif char == "|" and following == "|":
            kind, index = "spoiler", index + 1
        elif char == "[":
            kind = "text_link"
        elif char == "!" and following == "[":
            kind, index = "custom_emoji", index + 1
        elif self.source.startswith("```", index):
            kind, argument, index = "pre", *self.read_code_fence(index + 3)
            index -= 1
        elif char == "`":
            kind = "code"
        elif char == "\n":
            self.append("\n")
            if following == ">":
                index += 1
                if not self.in_blockquote:
                    kind = "blockquote"
                    self.in_blockquote = True
            if not kind:
                return index + 1
        elif char == ">" and index == 0:
            kind = "blockquote"
            self.in_blockquote = True
        else:
            raise _reserved_error(char)

        self.open.append(
            _OpenMarkdownEntity(kind, argument, self.utf16, markup_offset, self.visible_length)
        )
        return index + 1

    def read_code_fence(self, index: int) -> tuple[str, int]:
        language_end = index
        while language_end < len(self.source) and self.source[language_end] not in (
            TDLIB_SPACES | {"`"}
        ):
            language_end += 1
        language = ""
        if language_end != index and language_end < len(self.source):
            if self.source[language_end] != "`":
                language = self.source[index:language_end]
                index = language_end
        return language, _skip_one_newline(self.source, index)

    def read_url(self, index: int, what: str) -> tuple[str, int]:
        url_start = index
        url: list[str] = []
        while index < len(self.source) and self.source[index] != ")":
            if self.source[index] == "\\" and 0 < ord(self.char(index + 1) or "\0") <= 126:
                url.append(self.source[index + 1])
                index += 2
                continue
            url.append(self.source[index])
            index += 1
        if index >= len(self.source):
            raise EntityParseError(
                f"Can't find end of {what} at byte offset {byte_offset(self.source, url_start)}"
            )
        return "".join(url), index

    def close_top(self, index: int | None) -> int:
        top = self.open[-1]
        char = self.source[index] if index is not None else ""
        if char == "\n" and top.kind != "blockquote":
            raise _unclosed_error(self.source, top)

        entity: dict[str, Any] = {"type": top.kind}
        if top.kind in {"underline", "spoiler"}:
            index = (index or 0) + 1
        elif top.kind == "pre":
            index = (index or 0) + 2
            if top.argument:
                entity["language"] = top.argument
        elif top.kind == "text_link":
            assert index is not None
            if self.char(index + 1) == "(":
                url, index = self.read_url(index + 2, "a URL")
            else:
                url = "".join(self.pieces)[top.text_start :]
            entity.update(_text_link(url))
        elif top.kind == "custom_emoji":
            assert index is not None
            if self.char(index + 1) != "(":
                raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
            url, index = self.read_url(index + 2, "a custom emoji URL")
            emoji_id = url.removeprefix("tg://emoji?id=")
            if not url.startswith("tg://emoji?id=") or not emoji_id.isdigit():
                raise EntityParseError("Custom emoji URL must have an emoji identifier")
            entity["custom_emoji_id"] = emoji_id
        elif top.kind == "blockquote":
            self.in_blockquote = False
            if index is not None:
                self.append(char)

        length = self.utf16 - top.utf16_start
        if top.kind == "blockquote" and index is not None:
            length -= 1
        if length > 0:
            entity.update(offset=top.utf16_start, length=length)
            self.entities.append(entity)
        self.open.pop()
        return (index if index is not None else len(self.source)) + 1


def parse_markdown_v2(source: str) -> FormattedText:
    """Parse Telegram MarkdownV2 (``parse_mode=MarkdownV2``) into visible text and entities.

    Raises:
        EntityParseError: A reserved character is not escaped or an entity is never closed.
    """
    return _MarkdownV2Parser(source).parse()
