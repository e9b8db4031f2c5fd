"""A fake Telegram Bot API on 127.0.0.1 that python-telegram-bot 22 and the real bot talk to.

It serves ``/bot<token>/<method>`` like ``api.telegram.org`` (point PTB at it with
``Bot(token, base_url=telegram.base_url)`` or ``ApplicationBuilder().base_url(...)``), reads the
parameters the way Telegram does (query string, JSON, urlencoded or multipart bodies; PTB 22
sends urlencoded forms, multipart when a file goes up, with every non-string value JSON-encoded)
and answers in Telegram's envelope. Error bodies come from the real recorded answers in
``tests/fixtures/api/telegram``; where a variant is needed (another ``retry_after``) it is
derived from them here and says so.

In the test's event loop::

    async with FakeTelegram() as fake:
        application = ApplicationBuilder().token(TOKEN).base_url(fake.base_url).build()
        ...  # start polling
        fake.inject_command("/start", chat_id=42, user_id=42)
        [answer] = await fake.wait_for_sent(1, timeout=5)

As its own process: ``python -m tests.emulators.telegram --port 0`` prints ``READY <url>`` and is
driven through :class:`RemoteTelegram` (HTTP under ``/_control/``).

Behaviour that follows Telegram:

* Methods: getMe, getUpdates (long polling with ``offset``/``limit``/``timeout``; updates below
  the offset are confirmed and forgotten; a newer poll ends an older one with 409), setWebhook,
  deleteWebhook, getWebhookInfo, sendMessage, editMessageText, sendPhoto, sendChatAction,
  setMyCommands, getMyCommands, deleteMyCommands, answerCallbackQuery, getChat, getChatMember,
  getChatAdministrators. Method names are case-insensitive; any other method is 404
  ``Not Found``; a malformed token is 404, a token other than the configured one is 401.
* sendMessage/editMessageText refuse text over 4096 UTF-16 code units after entity parsing
  (``message is too long``), empty text, and markup the parse mode refuses (``can't parse
  entities: ...``, see :mod:`tests.emulators.formatting`); sendPhoto refuses captions over 1024
  units and bytes that are not an image.
* Messages to chats it has not seen (through an injected update or :meth:`FakeTelegram.add_chat`)
  answer ``chat not found``, like Telegram for a chat the bot is not in.

What python-telegram-bot 22.8 raises for each :class:`Fault` (see ``test_telegram_emulator.py``):

* ``retry_after``: ``RetryAfter``; ``.retry_after`` is the seconds (a ``timedelta`` when
  ``PTB_TIMEDELTA=true``, an ``int`` plus a deprecation warning otherwise).
* ``blocked``, ``deactivated``: ``Forbidden``.
* ``chat_not_found``, ``cant_parse_entities`` (and every other 400): ``BadRequest``.
* ``conflict``: ``Conflict``.
* ``bad_gateway`` (502), ``server_error`` (500) and ``drop`` (no answer): ``NetworkError``,
  not ``TimedOut``.
* ``delay`` beyond the request's read timeout: ``TimedOut`` (a ``NetworkError`` subclass).
* 401 (another token): ``InvalidToken``; 404 on ``do_api_request``: ``EndPointNotFound``.

PTB strips a leading ``Bad Request: `` and then applies ``str.capitalize``, so a 400's
``error.message`` reads ``Can't parse entities: unsupported start tag "p" at byte offset 0``;
compare those in lower case. Other descriptions (``Forbidden: bot was blocked by the user``)
are kept as they are.

The token in the URL is recorded (:attr:`FakeTelegram.tokens_seen`) but never logged; aiohttp's
access log is off because every Bot API URL carries the token.

Note:
    Entities Telegram finds on its own in a bot's text (links, mentions, hashtags) are not added
    to the answers; only those from the markup are. Messages from users get a ``bot_command``
    entity only for a leading command. Inline messages (``inline_message_id``) are not supported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import io
import itertools
import json
import logging
import math
import re
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.emulators.formatting import (
    EntityParseError,
    FormattedText,
    parse_formatted,
    utf16_length,
)
from tests.emulators.loopback import (
    CONTROL_PREFIX,
    ControlClient,
    LoopbackServer,
    drop_connection,
    json_response,
    run_cli,
)

logger = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "telegram"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_TEXT_LIMIT = 200
STALE_CALLBACK_QUERY = "query is too old and response timeout expired or query ID is invalid"
TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
COMMAND_PATTERN = re.compile(r"^[a-z0-9_]{1,32}$")
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
RATE_LIMITED_METHODS = frozenset({"sendMessage", "sendPhoto", "editMessageText"})
UPDATE_KINDS = ("message", "edited_message", "callback_query", "channel_post", "my_chat_member")
PHOTO_SIDES = (90, 320, 800, 1280)
GROUP_TYPES = frozenset({"group", "supergroup"})
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@cache
def load_fixture(name: str) -> dict[str, Any]:
    """Return a recorded Bot API body from ``tests/fixtures/api/telegram``, parsed."""
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


class Fault(StrEnum):
    """The failures :meth:`FakeTelegram.fail_next` can make a method answer with."""

    RETRY_AFTER = "retry_after"
    BLOCKED = "blocked"
    DEACTIVATED = "deactivated"
    CHAT_NOT_FOUND = "chat_not_found"
    CANT_PARSE_ENTITIES = "cant_parse_entities"
    CONFLICT = "conflict"
    BAD_GATEWAY = "bad_gateway"
    SERVER_ERROR = "server_error"
    DELAY = "delay"
    DROP = "drop"


FAULT_FIXTURES = {
    Fault.BLOCKED: "error_403_bot_blocked.json",
    Fault.DEACTIVATED: "error_403_user_deactivated.json",
    Fault.CHAT_NOT_FOUND: "error_400_chat_not_found.json",
    Fault.CANT_PARSE_ENTITIES: "error_400_cant_parse_entities.json",
    Fault.CONFLICT: "error_409_conflict_getUpdates.json",
    Fault.BAD_GATEWAY: "error_502_bad_gateway.json",
}


class BotApiError(Exception):
    """An error answer in Telegram's envelope, raised inside a handler and sent as is."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["description"])
        self.body = body
        self.status = int(body["error_code"])


def api_error(code: int, description: str, **parameters: Any) -> BotApiError:
    """Build an error answer that no fixture holds, in the same envelope as the fixtures."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return BotApiError(body)


def fixture_error(name: str) -> BotApiError:
    """Raise a recorded error answer unchanged."""
    return BotApiError(copy.deepcopy(load_fixture(name)))


def too_many_requests(retry_after: int) -> BotApiError:
    """The recorded 429 answer; derived (number replaced) when ``retry_after`` is not 5."""
    body = copy.deepcopy(load_fixture("error_429_too_many_requests.json"))
    body["description"] = f"Too Many Requests: retry after {retry_after}"
    body["parameters"] = {"retry_after": retry_after}
    return BotApiError(body)


def internal_server_error() -> BotApiError:
    """A 500 in Telegram's envelope; derived: no recorded body holds one."""
    return api_error(500, "Internal Server Error")


def not_found() -> BotApiError:
    """Telegram's answer for an unknown method or a malformed token."""
    return api_error(404, "Not Found")


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes

    def describe(self) -> dict[str, Any]:
        """Summarise the file for :class:`ApiCall` records, without the bytes."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
        }


@dataclass
class ApiCall:
    """One request the emulator received on the Bot API."""

    method: str
    params: dict[str, Any]
    http_method: str
    content_type: str
    at: float
    status: int | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the call as JSON-ready data."""
        return {
            "method": self.method,
            "params": self.params,
            "http_method": self.http_method,
            "content_type": self.content_type,
            "at": self.at,
            "status": self.status,
            "description": self.description,
        }


@dataclass
class SentMessage:
    """Something the bot made Telegram show: a message, a photo or an edit.

    Attributes:
        method: ``sendMessage``, ``sendPhoto`` or ``editMessageText``.
        chat_id: The chat's id.
        message_id: The id Telegram gave the message (or the edited message's id).
        text: The text or caption exactly as the bot sent it (markup included).
        plain_text: What the user sees: the text after entity parsing.
        parse_mode: The ``parse_mode`` parameter, if any.
        entities: The entities Telegram derived (UTF-16 offsets).
        photo: The uploaded image bytes (sendPhoto).
        reply_markup: The ``reply_markup`` parameter, decoded.
        at: Unix time the emulator accepted it.
    """

    method: str
    chat_id: int | str
    message_id: int
    text: str | None
    plain_text: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    photo: bytes | None
    reply_markup: Any
    at: float

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (photo bytes in base64)."""
        return {
            "method": self.method,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "text": self.text,
            "plain_text": self.plain_text,
            "parse_mode": self.parse_mode,
            "entities": self.entities,
            "photo": base64.b64encode(self.photo).decode() if self.photo is not None else None,
            "reply_markup": self.reply_markup,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SentMessage:
        """Rebuild a record from :meth:`to_json` output."""
        photo = data.get("photo")
        return cls(
            **{**data, "photo": base64.b64decode(photo) if photo is not None else None},
        )


@dataclass
class _PendingFault:
    method: str
    kind: Fault
    chat_id: int | str | None
    remaining: int | None
    retry_after: int
    delay: float

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class _RateLimit:
    per_second: int | None
    per_minute_per_group: int | None
    per_second_per_chat: int | None
    overall: deque[float] = field(default_factory=deque)
    by_chat: dict[int | str, deque[float]] = field(default_factory=dict)


def _normalise_chat_id(value: Any) -> int | str | None:
    """Turn a ``chat_id`` parameter into an int, or keep an ``@username`` string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise api_error(400, "Bad Request: chat_id is empty")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


class _Params:
    """The parameters of one request, read the way the Bot API reads them."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, UploadedFile):
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return int(float(value))
        except (TypeError, ValueError) as error:
            raise api_error(400, f"Bad Request: invalid {name} specified") from error

    def boolean(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.lower() in {"true", "1"}
        return bool(value)

    def decoded(self, name: str) -> Any:
        value = self.raw.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as error:
            raise api_error(400, f"Bad Request: can't parse {name} JSON object") from error

    def chat_id(self) -> int | str:
        chat_id = _normalise_chat_id(self.raw.get("chat_id"))
        if chat_id is None:
            raise api_error(400, "Bad Request: chat_id is empty")
        return chat_id


def _describe_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.describe() if isinstance(value, UploadedFile) else value
        for name, value in raw.items()
    }


def _image_size(data: bytes) -> tuple[int, int]:
    if not data:
        raise api_error(400, "Bad Request: file must be non-empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise api_error(400, "Bad Request: IMAGE_PROCESS_FAILED") from error


def _sent_matches(
    sent: SentMessage,
    *,
    chat_id: int | str | None,
    method: str | None,
    text_contains: str | None,
) -> bool:
    if chat_id is not None and sent.chat_id != chat_id:
        return False
    if method is not None and sent.method != method:
        return False
    if text_contains is not None:
        return text_contains in (sent.text or "") or text_contains in (sent.plain_text or "")
    return True


class FakeTelegram(LoopbackServer):
    """The fake Bot API server; see the module docstring for what it emulates.

    Args:
        port: Port on 127.0.0.1; 0 picks a free one.
        token: When set, any other well-formed token is refused with 401 ``Unauthorized``.
        bot_username: The bot's username in getMe and in sent messages.
        bot_first_name: The bot's first name.
        reject_unknown_chats: Answer ``chat not found`` for chats never seen (Telegram does).
        strict_ampersand: Refuse a bare ``&`` in HTML, which Telegram itself accepts as text.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        bot_username: str | None = None,
        bot_first_name: str | None = None,
        reject_unknown_chats: bool = True,
        strict_ampersand: bool = False,
    ) -> None:
        super().__init__(port=port)
        recorded_bot = load_fixture("sendMessage_ok_group.json")["result"]["from"]
        self.expected_token = token
        self.bot_username: str = bot_username or recorded_bot["username"]
        self.bot_first_name: str = bot_first_name or recorded_bot["first_name"]
        self.reject_unknown_chats = reject_unknown_chats
        self.strict_ampersand = strict_ampersand
        self._first_update_id = int(
            load_fixture("getUpdates_command_private.json")["result"][0]["update_id"]
        )
        handlers: dict[str, Callable[[_Params, str], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "answerCallbackQuery": self._answer_callback_query,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
        }
        # Telegram matches method names without regard to case.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._reset_state()

    def _reset_state(self) -> None:
        self._update_ids = itertools.count(self._first_update_id)
        self._callback_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._confirmed_below = 0
        self._allowed_updates: list[str] | None = None
        self._webhook_url = ""
        self._tokens: list[str] = []
        self._calls: list[ApiCall] = []
        self._sent: list[SentMessage] = []
        self._faults: list[_PendingFault] = []
        self._rate_limit: _RateLimit | None = None
        self._rate_limited_count = 0
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._administrators: dict[int | str, tuple[int | None, list[int]]] = {}
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._commands: dict[str, list[dict[str, str]]] = {}
        self._callback_queries: set[str] = set()
        self._callback_answers: list[dict[str, Any]] = []
        self._file_ids: dict[str, bytes] = {}
        self._file_counter = itertools.count(1)

    def reset(self) -> None:
        """Forget every update, message, call, fault, chat and setting; keep the port."""
        self._reset_state()
        self._notify()

    # Properties ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The Bot API base URL for PTB (``Bot(token, base_url=...)``): ``<url>/bot``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """The file download base URL for PTB: ``<url>/file/bot``."""
        return f"{self.url}/file/bot"

    @property
    def tokens_seen(self) -> list[str]:
        """Every distinct well-formed token seen in a URL, in order of first use."""
        return list(self._tokens)

    @property
    def rate_limited_count(self) -> int:
        """How many 429 answers the rate-limit mode gave."""
        return self._rate_limited_count

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates injected but not yet confirmed by a getUpdates offset."""
        return [copy.deepcopy(update) for update in self._updates]

    @property
    def webhook_url(self) -> str:
        """The URL last set with setWebhook, or ``""``."""
        return self._webhook_url

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """Every accepted answerCallbackQuery: ``callback_query_id``, ``text``, ``show_alert``."""
        return list(self._callback_answers)

    def bot_id(self, token: str | None = None) -> int:
        """The bot's user id: the number before ``:`` in its token, as on Telegram."""
        chosen = token or self.expected_token or (self._tokens[-1] if self._tokens else None)
        if chosen is None:
            return int(load_fixture("sendMessage_ok_group.json")["result"]["from"]["id"])
        return int(chosen.split(":", 1)[0])

    def bot_user(self, token: str | None = None) -> dict[str, Any]:
        """The bot as a ``User`` object, the way getMe returns it."""
        return {
            "id": self.bot_id(token),
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # Control: chats, users and administrators ----------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "private",
        title: str = "Test Group",
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = "test_user",
    ) -> dict[str, Any]:
        """Make a chat known, as if its user had started the bot or the bot joined the group.

        Returns:
            The chat as a Bot API ``Chat`` object.
        """
        if chat_type in GROUP_TYPES and chat_id >= 0:
            raise ValueError("group and supergroup chat ids are negative")
        if chat_type == "private" and chat_id <= 0:
            raise ValueError("a private chat's id is its user's id, a positive number")
        if chat_type not in GROUP_TYPES | {"private", "channel"}:
            raise ValueError(f"unknown chat type {chat_type!r}")

        if chat_type == "private":
            chat: dict[str, Any] = {"id": chat_id, "first_name": first_name, "type": "private"}
            if last_name:
                chat["last_name"] = last_name
            if username:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "title": title, "type": chat_type}
        self._chats[chat_id] = chat
        return copy.deepcopy(chat)

    def set_administrators(
        self, chat_id: int, user_ids: list[int], *, owner_id: int | None = None
    ) -> None:
        """Set who administers a group: ``owner_id`` (``creator``) and ``user_ids``."""
        if chat_id not in self._chats:
            self.add_chat(chat_id, chat_type="supergroup")
        self._administrators[chat_id] = (owner_id, [int(user_id) for user_id in user_ids])

    # Control: updates --------------------------------------------------------------------

    def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update for getUpdates; ``update_id`` is assigned when missing.

        Returns:
            The queued update.
        """
        queued = copy.deepcopy(update)
        if "update_id" not in queued:
            queued["update_id"] = next(self._update_ids)
        else:
            following = int(queued["update_id"]) + 1
            self._update_ids = itertools.count(max(following, next(self._update_ids)))
        self._remember_update_parties(queued)
        self._updates.append(queued)
        self._notify()
        return copy.deepcopy(queued)

    def inject_message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int,
        language_code: str = "en",
        chat_type: str = "private",
        username: str | None = "test_user",
        first_name: str = "Test",
        last_name: str | None = None,
        chat_title: str = "Test Group",
    ) -> dict[str, Any]:
        """Queue a text message from a user, shaped like the recorded updates.

        A leading command (``/start`` or ``/start@bot``) gets its ``bot_command`` entity.

        Returns:
            The queued update.
        """
        message = self._user_message(
            text,
            chat_id=chat_id,
            user_id=user_id,
            language_code=language_code,
            chat_type=chat_type,
            username=username,
            first_name=first_name,
            last_name=last_name,
            chat_title=chat_title,
        )
        return self.inject_update({"message": message})

    def inject_command(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int,
        language_code: str = "en",
        chat_type: str = "private",
        username: str | None = "test_user",
        first_name: str = "Test",
        last_name: str | None = None,
        chat_title: str = "Test Group",
    ) -> dict[str, Any]:
        """Queue a command message (``/price``, ``/start@example_bot PingGroup``...).

        Returns:
            The queued update.

        Raises:
            ValueError: ``text`` does not start with a command.
        """
        if not re.match(r"^/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,32})?(\s|$)", text):
            raise ValueError(f"not a bot command: {text!r}")
        return self.inject_message(
            text,
            chat_id=chat_id,
            user_id=user_id,
            language_code=language_code,
            chat_type=chat_type,
            username=username,
            first_name=first_name,
            last_name=last_name,
            chat_title=chat_title,
        )

    def inject_edited_message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        language_code: str = "en",
        chat_type: str = "private",
        username: str | None = "test_user",
        first_name: str = "Test",
        chat_title: str = "Test Group",
    ) -> dict[str, Any]:
        """Queue an ``edited_message`` update: a user changed message ``message_id``.

        Returns:
            The queued update.
        """
        message = self._user_message(
            text,
            chat_id=chat_id,
            user_id=user_id,
            language_code=language_code,
            chat_type=chat_type,
            username=username,
            first_name=first_name,
            last_name=None,
            chat_title=chat_title,
            message_id=message_id,
        )
        message["edit_date"] = max(int(time.time()), message["date"])
        return self.inject_update({"edited_message": message})

    def inject_callback_query(
        self,
        data: str,
        *,
        chat_id: int,
        user_id: int,
        message_id: int | None = None,
        language_code: str = "en",
        username: str | None = "test_user",
        first_name: str = "Test",
    ) -> dict[str, Any]:
        """Queue a button press on a message the bot sent (its latest in the chat by default).

        Returns:
            The queued update.

        Raises:
            ValueError: The bot has sent no such message.
        """
        chosen_id = message_id
        if chosen_id is None:
            own = [key[1] for key in self._messages if key[0] == chat_id]
            if not own:
                raise ValueError(f"the bot has sent nothing to chat {chat_id}")
            chosen_id = max(own)
        message = self._messages.get((chat_id, chosen_id))
        if message is None:
            raise ValueError(f"the bot has not sent message {chosen_id} to chat {chat_id}")

        user = self._remember_user(user_id, first_name, None, username, language_code)
        query_id = str(4_000_000_000_000_000_000 + next(self._callback_ids))
        self._callback_queries.add(query_id)
        callback = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(hash((chat_id, self._first_update_id)))),
            "data": data,
        }
        return self.inject_update({"callback_query": callback})

    # Control: what the bot did -----------------------------------------------------------

    def sent(self, chat_id: int | str | None = None) -> list[SentMessage]:
        """What the bot made Telegram show, oldest first, optionally in one chat only."""
        return [
            sent
            for sent in self._sent
            if _sent_matches(sent, chat_id=chat_id, method=None, text_contains=None)
        ]

    async def wait_for_sent(
        self,
        condition: int | Callable[[SentMessage], bool] = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the agreed test API: wait_for_sent(n, timeout)
        *,
        chat_id: int | str | None = None,
    ) -> list[SentMessage]:
        """Wait until the bot has sent ``condition`` messages, or one that ``condition`` accepts.

        Args:
            condition: A count, or a predicate over :class:`SentMessage`.
            timeout: Seconds to wait at most.
            chat_id: Only count messages to this chat.

        Returns:
            All sent messages that match (the chat filter, and the predicate if given).

        Raises:
            TimeoutError: Not enough was sent in time; the message lists what was.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            in_chat = self.sent(chat_id)
            if isinstance(condition, int):
                if len(in_chat) >= condition:
                    return in_chat
            else:
                matching = [sent for sent in in_chat if condition(sent)]
                if matching:
                    return matching

            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                summary = [(sent.method, sent.chat_id, sent.plain_text) for sent in in_chat]
                raise TimeoutError(f"after {timeout} s the bot had sent {summary}")
            await self._wait_for_change(remaining)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every Bot API request received, oldest first, optionally of one method only."""
        if method is None:
            return list(self._calls)
        return [call for call in self._calls if call.method.lower() == method.lower()]

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The command list set with setMyCommands for ``scope`` and ``language_code``."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    # Control: faults and rate limits -------------------------------------------------------

    def fail_next(
        self,
        method: str,
        kind: Fault | str,
        *,
        chat_id: int | str | None = None,
        times: int | None = 1,
        retry_after: int = 5,
        delay: float = 1.0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id`` only, if given) fail.

        Args:
            method: The Bot API method (``sendMessage``, ``getUpdates``...).
            kind: A :class:`Fault`: ``retry_after`` (429 with ``retry_after`` seconds),
                ``blocked`` / ``deactivated`` (403), ``chat_not_found`` /
                ``cant_parse_entities`` (400), ``conflict`` (409), ``bad_gateway`` (502),
                ``server_error`` (500, derived body), ``delay`` (answer normally after
                ``delay`` seconds), ``drop`` (close the connection without an answer).
            chat_id: Only calls for this chat.
            times: How many calls; ``None`` for every call until :meth:`clear_faults`.
            retry_after: Seconds in the 429 answer.
            delay: Seconds for ``delay``.
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for always")
        self._faults.append(
            _PendingFault(
                method=method,
                kind=Fault(kind),
                chat_id=_normalise_chat_id(chat_id),
                remaining=times,
                retry_after=int(retry_after),
                delay=float(delay),
            )
        )

    def clear_faults(self) -> None:
        """Forget every fault not yet used."""
        self._faults.clear()

    def set_rate_limit(
        self,
        *,
        per_second: int | None = 30,
        per_minute_per_group: int | None = 20,
        per_second_per_chat: int | None = None,
    ) -> None:
        """Answer 429 like Telegram when the bot sends faster than these limits.

        Counted methods: sendMessage, sendPhoto, editMessageText. Telegram's published limits
        are about 30 messages a second overall and 20 a minute in one group.

        Args:
            per_second: Messages a second over all chats.
            per_minute_per_group: Messages a minute in one group or supergroup.
            per_second_per_chat: Messages a second in one chat (off by default).
        """
        self._rate_limit = _RateLimit(per_second, per_minute_per_group, per_second_per_chat)

    def clear_rate_limit(self) -> None:
        """Stop answering 429 for speed; the count stays."""
        self._rate_limit = None

    # Server ------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Return the Bot API routes and the ``/_control/`` routes."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_api)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        _TelegramControl(self).register(app)
        return app

    async def before_stop(self) -> None:
        """Wake every long poll so it answers at once."""
        self._closing.set()
        self._notify()

    async def _handle_file(self, request: web.Request) -> web.Response:
        return json_response(not_found().body, 404)

    async def _handle_bot_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        requested = request.match_info["method"]
        if not TOKEN_PATTERN.match(token):
            return json_response(not_found().body, 404)
        if token not in self._tokens:
            self._tokens.append(token)
        if self.expected_token is not None and token != self.expected_token:
            return json_response(api_error(401, "Unauthorized").body, 401)

        method, handler = self._methods.get(requested.lower(), (requested, None))
        try:
            raw = await self._read_params(request)
        except BotApiError as error:
            return json_response(error.body, error.status)
        call = ApiCall(
            method=method,
            params=_describe_params(raw),
            http_method=request.method,
            content_type=request.content_type,
            at=time.time(),
        )
        self._calls.append(call)
        logger.debug("Bot API call %s", method)

        try:
            if handler is None:
                raise not_found()
            params = _Params(raw)
            fault = self._take_fault(method, raw.get("chat_id"))
            if fault is not None and fault.kind is Fault.DROP:
                call.description = "connection dropped"
                return drop_connection(request)
            if fault is not None and fault.kind is Fault.DELAY:
                await self._pause(fault.delay)
            elif fault is not None:
                raise self._fault_error(fault)
            if method in RATE_LIMITED_METHODS:
                self._check_rate(raw.get("chat_id"))
            result = await handler(params, token)
        except BotApiError as error:
            call.status, call.description = error.status, error.body["description"]
            return json_response(error.body, error.status)

        if method in RATE_LIMITED_METHODS:
            self._record_rate(raw.get("chat_id"))
        call.status = 200
        return json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return raw

        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as error:
                raise api_error(400, "Bad Request: can't parse JSON encoded request") from error
            if not isinstance(body, dict):
                raise api_error(400, "Bad Request: JSON object expected")
            raw.update(body)
        elif content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    raw[name] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    raw[name] = value
        return raw

    # Faults and rate limits -------------------------------------------------------------------

    def _take_fault(self, method: str, raw_chat_id: Any) -> _PendingFault | None:
        chat_id = _normalise_chat_id(raw_chat_id) if not isinstance(raw_chat_id, bool) else None
        for fault in self._faults:
            if not fault.matches(method, chat_id):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _fault_error(self, fault: _PendingFault) -> BotApiError:
        if fault.kind is Fault.RETRY_AFTER:
            return too_many_requests(fault.retry_after)
        if fault.kind is Fault.SERVER_ERROR:
            return internal_server_error()
        return fixture_error(FAULT_FIXTURES[fault.kind])

    def _check_rate(self, raw_chat_id: Any) -> None:
        limit = self._rate_limit
        if limit is None:
            return

        now = time.monotonic()
        chat_id = _normalise_chat_id(raw_chat_id)
        waits: list[float] = []
        _forget_older(limit.overall, now - 1.0)
        if limit.per_second is not None and len(limit.overall) >= limit.per_second:
            waits.append(limit.overall[0] + 1.0 - now)

        in_chat = limit.by_chat.setdefault(chat_id or 0, deque())
        _forget_older(in_chat, now - 60.0)
        if limit.per_second_per_chat is not None:
            last_second = [stamp for stamp in in_chat if stamp > now - 1.0]
            if len(last_second) >= limit.per_second_per_chat:
                waits.append(last_second[0] + 1.0 - now)
        is_group = isinstance(chat_id, int) and chat_id < 0
        if is_group and limit.per_minute_per_group is not None:
            if len(in_chat) >= limit.per_minute_per_group:
                waits.append(in_chat[0] + 60.0 - now)

        if waits:
            self._rate_limited_count += 1
            raise too_many_requests(max(1, math.ceil(max(waits))))

    def _record_rate(self, raw_chat_id: Any) -> None:
        limit = self._rate_limit
        if limit is None:
            return
        now = time.monotonic()
        limit.overall.append(now)
        limit.by_chat.setdefault(_normalise_chat_id(raw_chat_id) or 0, deque()).append(now)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return

    # Updates ---------------------------------------------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_for_change(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return

    def _confirm_below(self, offset: int) -> None:
        if offset < 0:
            keep = self._updates[offset:]
            self._updates = keep
            if keep:
                self._confirmed_below = int(keep[0]["update_id"])
            return
        self._confirmed_below = max(self._confirmed_below, offset)
        self._updates = [
            update for update in self._updates if int(update["update_id"]) >= self._confirmed_below
        ]

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        chosen = []
        for update in self._updates:
            kind = next((key for key in update if key != "update_id"), "")
            if allowed and kind not in allowed:
                continue
            chosen.append(copy.deepcopy(update))
            if len(chosen) == limit:
                break
        return chosen

    def _remember_update_parties(self, update: dict[str, Any]) -> None:
        for kind in UPDATE_KINDS:
            body = update.get(kind)
            if not isinstance(body, dict):
                continue
            sender = body.get("from")
            if isinstance(sender, dict) and "id" in sender:
                self._users.setdefault(int(sender["id"]), copy.deepcopy(sender))
            chat = body.get("chat") or (body.get("message") or {}).get("chat")
            if isinstance(chat, dict) and "id" in chat:
                self._chats.setdefault(chat["id"], copy.deepcopy(chat))

    def _remember_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return copy.deepcopy(user)

    def _user_message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int,
        language_code: str,
        chat_type: str,
        username: str | None,
        first_name: str,
        last_name: str | None,
        chat_title: str,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        if chat_type == "private" and chat_id != user_id:
            raise ValueError("in a private chat, chat_id is the user's id")
        user = self._remember_user(user_id, first_name, last_name, username, language_code)
        chat = self._chats.get(chat_id)
        if chat is None or chat.get("type") != chat_type:
            chat = self.add_chat(
                chat_id,
                chat_type=chat_type,
                title=chat_title,
                first_name=first_name,
                last_name=last_name,
                username=username,
            )

        message: dict[str, Any] = {
            "message_id": message_id if message_id is not None else self._next_message_id(chat_id),
            "from": user,
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
            "text": text,
        }
        command = re.match(r"^/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,32})?", text)
        if command:
            message["entities"] = [
                {"offset": 0, "length": utf16_length(command.group(0)), "type": "bot_command"}
            ]
        return message

    def _next_message_id(self, chat_id: int | str) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    # Chats ------------------------------------------------------------------------------

    def _known_chat(self, chat_id: int | str) -> dict[str, Any]:
        if isinstance(chat_id, str):
            username = chat_id.removeprefix("@").lower()
            for named in self._chats.values():
                if str(named.get("username", "")).lower() == username:
                    return named
            raise fixture_error("error_400_chat_not_found.json")
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.reject_unknown_chats:
                raise fixture_error("error_400_chat_not_found.json")
            chat_type = "private" if chat_id > 0 else "supergroup"
            chat = self.add_chat(chat_id, chat_type=chat_type)
        return chat

    def _user_or_placeholder(self, user_id: int) -> dict[str, Any]:
        known = self._users.get(user_id)
        if known is not None:
            return copy.deepcopy(known)
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    # Bot API methods --------------------------------------------------------------------------

    async def _get_me(self, params: _Params, token: str) -> Any:
        return self.bot_user(token)

    async def _get_updates(self, params: _Params, token: str) -> Any:
        self._refuse_polling_under_webhook()
        offset = params.integer("offset")
        limit = min(max(params.integer("limit", 100) or 100, 1), 100)
        timeout = max(params.integer("timeout", 0) or 0, 0)
        allowed = params.decoded("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None
        if offset is not None and offset != 0:
            self._confirm_below(offset)

        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older poll still waiting learns that it has been superseded
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if generation != self._poll_generation and not self._closing.is_set():
                raise fixture_error("error_409_conflict_getUpdates.json")
            self._refuse_polling_under_webhook()
            batch = self._deliverable(limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if batch or remaining <= 0 or self._closing.is_set():
                return batch
            await self._wait_for_change(remaining)

    def _refuse_polling_under_webhook(self) -> None:
        if self._webhook_url:
            raise api_error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    async def _set_webhook(self, params: _Params, token: str) -> Any:
        url = params.text("url") or ""
        if url and not url.startswith("https://"):
            raise api_error(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self._webhook_url = url
        if params.boolean("drop_pending_updates"):
            self._updates.clear()
        self._notify()
        return True

    async def _delete_webhook(self, params: _Params, token: str) -> Any:
        self._webhook_url = ""
        if params.boolean("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: _Params, token: str) -> Any:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _formatted(self, params: _Params, name: str, entities_name: str) -> FormattedText:
        text = params.text(name) or ""
        parse_mode = params.text("parse_mode")
        explicit = params.decoded(entities_name)
        if isinstance(explicit, list):
            return FormattedText(text, explicit)
        try:
            return parse_formatted(text, parse_mode, strict_ampersand=self.strict_ampersand)
        except EntityParseError as error:
            raise api_error(400, f"Bad Request: can't parse entities: {error}") from error
        except ValueError as error:
            raise api_error(400, "Bad Request: unsupported parse_mode") from error

    def _store_bot_message(
        self,
        method: str,
        chat: dict[str, Any],
        params: _Params,
        token: str,
        content: dict[str, Any],
        *,
        text: str | None,
        formatted: FormattedText | None,
        photo: bytes | None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user(token),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
            **content,
        }
        reply_markup = params.decoded("reply_markup")
        if isinstance(reply_markup, dict) and "inline_keyboard" in reply_markup:
            message["reply_markup"] = reply_markup
        self._messages[(chat["id"], message["message_id"])] = message
        self._record_sent(
            method, chat["id"], message["message_id"], params, text, formatted, photo, reply_markup
        )
        return copy.deepcopy(message)

    def _record_sent(
        self,
        method: str,
        chat_id: int | str,
        message_id: int,
        params: _Params,
        text: str | None,
        formatted: FormattedText | None,
        photo: bytes | None,
        reply_markup: Any,
    ) -> None:
        self._sent.append(
            SentMessage(
                method=method,
                chat_id=chat_id,
                message_id=message_id,
                text=text,
                plain_text=formatted.text if formatted is not None else None,
                parse_mode=params.text("parse_mode"),
                entities=copy.deepcopy(formatted.entities) if formatted is not None else [],
                photo=photo,
                reply_markup=reply_markup,
                at=time.time(),
            )
        )
        self._notify()

    def _checked_text(self, params: _Params) -> FormattedText:
        if not params.text("text"):
            raise api_error(400, "Bad Request: message text is empty")
        formatted = self._formatted(params, "text", "entities")
        if not formatted.text.strip():
            raise api_error(400, "Bad Request: message text is empty")
        if utf16_length(formatted.text) > MESSAGE_LIMIT:
            raise api_error(400, "Bad Request: message is too long")
        return formatted

    async def _send_message(self, params: _Params, token: str) -> Any:
        chat = self._known_chat(params.chat_id())
        formatted = self._checked_text(params)
        content: dict[str, Any] = {"text": formatted.text}
        if formatted.entities:
            content["entities"] = formatted.entities
        return self._store_bot_message(
            "sendMessage",
            chat,
            params,
            token,
            content,
            text=params.text("text"),
            formatted=formatted,
            photo=None,
        )

    async def _edit_message_text(self, params: _Params, token: str) -> Any:
        if params.text("inline_message_id"):
            raise api_error(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._known_chat(params.chat_id())
        message_id = params.integer("message_id")
        message = self._messages.get((chat["id"], message_id or 0))
        if message is None:
            raise api_error(400, "Bad Request: message to edit not found")
        if "text" not in message:
            raise api_error(400, "Bad Request: there is no text in the message to edit")

        formatted = self._checked_text(params)
        reply_markup = params.decoded("reply_markup")
        same_markup = message.get("reply_markup") == (
            reply_markup if isinstance(reply_markup, dict) else None
        )
        same_text = message["text"] == formatted.text
        if same_text and message.get("entities", []) == formatted.entities and same_markup:
            raise api_error(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )

        message["text"] = formatted.text
        message["entities"] = formatted.entities
        if not formatted.entities:
            message.pop("entities")
        message["edit_date"] = int(time.time())
        if isinstance(reply_markup, dict) and "inline_keyboard" in reply_markup:
            message["reply_markup"] = reply_markup
        else:
            message.pop("reply_markup", None)
        self._record_sent(
            "editMessageText",
            chat["id"],
            message["message_id"],
            params,
            params.text("text"),
            formatted,
            None,
            reply_markup,
        )
        return copy.deepcopy(message)

    async def _send_photo(self, params: _Params, token: str) -> Any:
        chat = self._known_chat(params.chat_id())
        photo = params.raw.get("photo")
        if isinstance(photo, UploadedFile):
            data = photo.data
        elif isinstance(photo, str) and photo in self._file_ids:
            data = self._file_ids[photo]
        elif isinstance(photo, str) and photo:
            raise api_error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise api_error(400, "Bad Request: there is no photo in the request")
        width, height = _image_size(data)

        formatted = self._formatted(params, "caption", "caption_entities")
        if utf16_length(formatted.text) > CAPTION_LIMIT:
            raise api_error(400, "Bad Request: message caption is too long")

        content: dict[str, Any] = {"photo": self._photo_sizes(data, width, height)}
        if formatted.text:
            content["caption"] = formatted.text
        if formatted.entities:
            content["caption_entities"] = formatted.entities
        return self._store_bot_message(
            "sendPhoto",
            chat,
            params,
            token,
            content,
            text=params.text("caption"),
            formatted=formatted,
            photo=data,
        )

    def _photo_sizes(self, data: bytes, width: int, height: int) -> list[dict[str, Any]]:
        sizes: list[dict[str, Any]] = []
        longest = max(width, height)
        for side in PHOTO_SIDES:
            scale = min(1.0, side / longest)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if sizes and (sizes[-1]["width"], sizes[-1]["height"]) == size:
                continue
            number = next(self._file_counter)
            file_id = f"AgACAgIAAxkDAAI{number:06d}emulator"
            self._file_ids[file_id] = data
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": f"AQAD{number:06d}",
                    "file_size": len(data) if scale == 1.0 else max(1, int(len(data) * scale**2)),
                    "width": size[0],
                    "height": size[1],
                }
            )
        return sizes

    async def _send_chat_action(self, params: _Params, token: str) -> Any:
        self._known_chat(params.chat_id())
        if params.text("action") not in CHAT_ACTIONS:
            raise api_error(400, "Bad Request: wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(scope: Any, language_code: str | None) -> str:
        chosen_scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps([chosen_scope, language_code or ""], sort_keys=True)

    async def _set_my_commands(self, params: _Params, token: str) -> Any:
        commands = params.decoded("commands")
        if not isinstance(commands, list):
            raise api_error(400, "Bad Request: commands must be an array")
        if len(commands) > 100:
            raise api_error(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        checked = []
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            description = str(command.get("description", "")) if isinstance(command, dict) else ""
            if not COMMAND_PATTERN.match(name.lower()):
                raise api_error(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise api_error(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            checked.append({"command": name.lower(), "description": description})
        key = self._commands_key(params.decoded("scope"), params.text("language_code"))
        self._commands[key] = checked
        return True

    async def _get_my_commands(self, params: _Params, token: str) -> Any:
        key = self._commands_key(params.decoded("scope"), params.text("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    async def _delete_my_commands(self, params: _Params, token: str) -> Any:
        key = self._commands_key(params.decoded("scope"), params.text("language_code"))
        self._commands.pop(key, None)
        return True

    async def _answer_callback_query(self, params: _Params, token: str) -> Any:
        query_id = params.text("callback_query_id") or ""
        if query_id not in self._callback_queries:
            raise api_error(400, f"Bad Request: {STALE_CALLBACK_QUERY}")
        text = params.text("text")
        if text is not None and utf16_length(text) > CALLBACK_TEXT_LIMIT:
            raise api_error(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callback_queries.discard(query_id)
        self._callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": text,
                "show_alert": params.boolean("show_alert"),
            }
        )
        return True

    async def _get_chat(self, params: _Params, token: str) -> Any:
        chat = self._known_chat(params.chat_id())
        return {
            **copy.deepcopy(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _member(self, chat: dict[str, Any], user_id: int, token: str) -> dict[str, Any]:
        user = self.bot_user(token) if user_id == self.bot_id(token) else None
        if user is None:
            user = self._user_or_placeholder(user_id)
        owner_id, admin_ids = self._administrators.get(chat["id"], (None, []))
        if chat["type"] == "private":
            return {"status": "member", "user": user}
        if user_id == owner_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in admin_ids:
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_pin_messages": True,
                "can_manage_topics": False,
            }
        return {"status": "member", "user": user}

    async def _get_chat_member(self, params: _Params, token: str) -> Any:
        chat = self._known_chat(params.chat_id())
        user_id = params.integer("user_id")
        if user_id is None:
            raise api_error(400, "Bad Request: user_id is empty")
        known = user_id in self._users or user_id == self.bot_id(token)
        owner_id, admin_ids = self._administrators.get(chat["id"], (None, []))
        if not known and user_id != owner_id and user_id not in admin_ids:
            raise api_error(400, "Bad Request: user not found")
        return self._member(chat, user_id, token)

    async def _get_chat_administrators(self, params: _Params, token: str) -> Any:
        chat = self._known_chat(params.chat_id())
        if chat["type"] == "private":
            raise api_error(400, "Bad Request: there are no administrators in the private chat")
        owner_id, admin_ids = self._administrators.get(chat["id"], (None, []))
        members = [owner_id] if owner_id is not None else []
        members += [user_id for user_id in admin_ids if user_id != owner_id]
        return [self._member(chat, user_id, token) for user_id in members]


def _forget_older(stamps: deque[float], cutoff: float) -> None:
    while stamps and stamps[0] <= cutoff:
        stamps.popleft()


class _TelegramControl:
    """The ``/_control/`` HTTP interface, so that another process can drive the emulator."""

    def __init__(self, telegram: FakeTelegram) -> None:
        self.telegram = telegram

    def register(self, app: web.Application) -> None:
        routes = [
            ("GET", "health", self.health),
            ("POST", "inject_update", self.inject_update),
            ("POST", "inject_message", self.inject_message),
            ("POST", "inject_command", self.inject_command),
            ("POST", "inject_edited_message", self.inject_edited_message),
            ("POST", "inject_callback_query", self.inject_callback_query),
            ("GET", "sent", self.sent),
            ("POST", "wait_for_sent", self.wait_for_sent),
            ("GET", "calls", self.calls),
            ("POST", "fail_next", self.fail_next),
            ("DELETE", "faults", self.clear_faults),
            ("POST", "rate_limit", self.set_rate_limit),
            ("DELETE", "rate_limit", self.clear_rate_limit),
            ("POST", "chats", self.add_chat),
            ("POST", "administrators", self.set_administrators),
            ("GET", "state", self.state),
            ("GET", "commands", self.commands),
            ("POST", "reset", self.reset),
        ]
        for http_method, name, handler in routes:
            app.router.add_route(http_method, f"{CONTROL_PREFIX}/{name}", _guarded(handler))

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"ok": True})

    async def inject_update(self, request: web.Request) -> web.Response:
        body = await request.json()
        return json_response({"update": self.telegram.inject_update(body["update"])})

    async def inject_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        return json_response({"update": self.telegram.inject_message(**body)})

    async def inject_command(self, request: web.Request) -> web.Response:
        body = await request.json()
        return json_response({"update": self.telegram.inject_command(**body)})

    async def inject_edited_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        return json_response({"update": self.telegram.inject_edited_message(**body)})

    async def inject_callback_query(self, request: web.Request) -> web.Response:
        body = await request.json()
        return json_response({"update": self.telegram.inject_callback_query(**body)})

    async def sent(self, request: web.Request) -> web.Response:
        chat_id = _normalise_chat_id(request.query.get("chat_id"))
        return json_response({"sent": [sent.to_json() for sent in self.telegram.sent(chat_id)]})

    async def wait_for_sent(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat_id = _normalise_chat_id(body.get("chat_id"))
        method = body.get("method")
        text_contains = body.get("text_contains")
        count = int(body.get("count", 1))

        def wanted(sent: SentMessage) -> bool:
            return _sent_matches(sent, chat_id=None, method=method, text_contains=text_contains)

        try:
            if method is None and text_contains is None:
                found = await self.telegram.wait_for_sent(
                    count, float(body.get("timeout", 5.0)), chat_id=chat_id
                )
            else:
                found = await self.telegram.wait_for_sent(
                    wanted, float(body.get("timeout", 5.0)), chat_id=chat_id
                )
        except TimeoutError as error:
            return json_response({"error": str(error)}, 408)
        return json_response({"sent": [sent.to_json() for sent in found]})

    async def calls(self, request: web.Request) -> web.Response:
        calls = self.telegram.calls(request.query.get("method"))
        return json_response({"calls": [call.to_json() for call in calls]})

    async def fail_next(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.telegram.fail_next(body.pop("method"), body.pop("kind"), **body)
        return json_response({"ok": True})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.telegram.clear_faults()
        return json_response({"ok": True})

    async def set_rate_limit(self, request: web.Request) -> web.Response:
        self.telegram.set_rate_limit(**(await request.json()))
        return json_response({"ok": True})

    async def clear_rate_limit(self, request: web.Request) -> web.Response:
        self.telegram.clear_rate_limit()
        return json_response({"ok": True})

    async def add_chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        return json_response({"chat": self.telegram.add_chat(body.pop("chat_id"), **body)})

    async def set_administrators(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.telegram.set_administrators(
            body["chat_id"], body.get("user_ids", []), owner_id=body.get("owner_id")
        )
        return json_response({"ok": True})

    async def state(self, request: web.Request) -> web.Response:
        telegram = self.telegram
        return json_response(
            {
                "tokens_seen": telegram.tokens_seen,
                "rate_limited_count": telegram.rate_limited_count,
                "pending_updates": telegram.pending_updates,
                "webhook_url": telegram.webhook_url,
                "callback_answers": telegram.callback_answers,
            }
        )

    async def commands(self, request: web.Request) -> web.Response:
        scope = json.loads(request.query["scope"]) if "scope" in request.query else None
        language_code = request.query.get("language_code", "")
        return json_response({"commands": self.telegram.commands(scope, language_code)})

    async def reset(self, request: web.Request) -> web.Response:
        self.telegram.reset()
        return json_response({"ok": True})


def _guarded(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Turn a bad control command into a 400 answer that says why."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (KeyError, TypeError, ValueError) as error:
            return json_response({"error": f"{type(error).__name__}: {error}"}, 400)

    return guarded


class RemoteTelegram(ControlClient):
    """Drives a :class:`FakeTelegram` in another process through ``/_control/``.

    The methods mirror those of :class:`FakeTelegram` and are coroutines.
    """

    @property
    def base_url(self) -> str:
        """The Bot API base URL for PTB: ``<url>/bot``."""
        return f"{self.url}/bot"

    async def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """See :meth:`FakeTelegram.inject_update`."""
        answer = await self.call("POST", "inject_update", {"update": update})
        return dict(answer["update"])

    async def inject_message(self, text: str, **details: Any) -> dict[str, Any]:
        """See :meth:`FakeTelegram.inject_message`."""
        answer = await self.call("POST", "inject_message", {"text": text, **details})
        return dict(answer["update"])

    async def inject_command(self, text: str, **details: Any) -> dict[str, Any]:
        """See :meth:`FakeTelegram.inject_command`."""
        answer = await self.call("POST", "inject_command", {"text": text, **details})
        return dict(answer["update"])

    async def inject_edited_message(self, text: str, **details: Any) -> dict[str, Any]:
        """See :meth:`FakeTelegram.inject_edited_message`."""
        answer = await self.call("POST", "inject_edited_message", {"text": text, **details})
        return dict(answer["update"])

    async def inject_callback_query(self, data: str, **details: Any) -> dict[str, Any]:
        """See :meth:`FakeTelegram.inject_callback_query`."""
        answer = await self.call("POST", "inject_callback_query", {"data": data, **details})
        return dict(answer["update"])

    async def sent(self, chat_id: int | str | None = None) -> list[SentMessage]:
        """See :meth:`FakeTelegram.sent`."""
        query = {"chat_id": chat_id} if chat_id is not None else None
        answer = await self.call("GET", "sent", query)
        return [SentMessage.from_json(item) for item in answer["sent"]]

    async def wait_for_sent(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors FakeTelegram.wait_for_sent
        *,
        chat_id: int | str | None = None,
        method: str | None = None,
        text_contains: str | None = None,
    ) -> list[SentMessage]:
        """Wait for ``count`` messages, or for one matching ``method``/``text_contains``."""
        payload = {
            "count": count,
            "timeout": timeout,
            "chat_id": chat_id,
            "method": method,
            "text_contains": text_contains,
        }
        answer = await self.call("POST", "wait_for_sent", payload, time_limit=timeout + 5.0)
        return [SentMessage.from_json(item) for item in answer["sent"]]

    async def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """See :meth:`FakeTelegram.calls`; each call as a dict."""
        answer = await self.call("GET", "calls", {"method": method} if method else None)
        return list(answer["calls"])

    async def fail_next(self, method: str, kind: Fault | str, **options: Any) -> None:
        """See :meth:`FakeTelegram.fail_next`."""
        await self.call("POST", "fail_next", {"method": method, "kind": str(kind), **options})

    async def clear_faults(self) -> None:
        """See :meth:`FakeTelegram.clear_faults`."""
        await self.call("DELETE", "faults")

    async def set_rate_limit(self, **limits: int | None) -> None:
        """See :meth:`FakeTelegram.set_rate_limit`."""
        await self.call("POST", "rate_limit", limits)

    async def clear_rate_limit(self) -> None:
        """See :meth:`FakeTelegram.clear_rate_limit`."""
        await self.call("DELETE", "rate_limit")

    async def add_chat(self, chat_id: int, **details: Any) -> dict[str, Any]:
        """See :meth:`FakeTelegram.add_chat`."""
        answer = await self.call("POST", "chats", {"chat_id": chat_id, **details})
        return dict(answer["chat"])

    async def set_administrators(
        self, chat_id: int, user_ids: list[int], *, owner_id: int | None = None
    ) -> None:
        """See :meth:`FakeTelegram.set_administrators`."""
        payload = {"chat_id": chat_id, "user_ids": user_ids, "owner_id": owner_id}
        await self.call("POST", "administrators", payload)

    async def state(self) -> dict[str, Any]:
        """Tokens seen, rate-limited count, pending updates, webhook URL, callback answers."""
        return dict(await self.call("GET", "state"))

    async def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """See :meth:`FakeTelegram.commands`."""
        query: dict[str, Any] = {"language_code": language_code}
        if scope is not None:
            query["scope"] = json.dumps(scope)
        answer = await self.call("GET", "commands", query)
        return list(answer["commands"])

    async def reset(self) -> None:
        """See :meth:`FakeTelegram.reset`."""
        await self.call("POST", "reset")


def main(argv: list[str] | None = None) -> int:
    """Run the fake Bot API until SIGTERM: ``python -m tests.emulators.telegram --port N``."""
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API on 127.0.0.1.")
    parser.add_argument("--token", default=None, help="the only token to accept (default: any)")
    parser.add_argument("--bot-username", default=None, help="the bot's username")
    parser.add_argument(
        "--accept-unknown-chats",
        action="store_true",
        help="deliver to chats never seen instead of answering 'chat not found'",
    )
    parser.add_argument(
        "--strict-ampersand", action="store_true", help="refuse a bare '&' in HTML"
    )

    def build(arguments: argparse.Namespace) -> LoopbackServer:
        return FakeTelegram(
            port=arguments.port,
            token=arguments.token,
            bot_username=arguments.bot_username,
            reject_unknown_chats=not arguments.accept_unknown_chats,
            strict_ampersand=arguments.strict_ampersand,
        )

    return run_cli(build, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
