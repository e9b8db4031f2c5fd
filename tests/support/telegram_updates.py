"""Real python-telegram-bot objects built offline, and a bot whose calls are recorded.

Updates are made from the real recorded ``getUpdates`` bodies, with only the text, ids and
language changed, and parsed by PTB itself, so handlers see exactly what they would see
in production.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, Update
from telegram.request import BaseRequest, RequestData

from tests.conftest import FIXTURES

TELEGRAM_FIXTURES = FIXTURES / "api" / "telegram"
BOT_USERNAME = "example_bot"
BOT_ID = 1234567890


@functools.cache
def _recorded(name: str) -> dict[str, Any]:
    # Read once: callers deep-copy the body before changing it.
    body = json.loads((TELEGRAM_FIXTURES / name).read_text())
    return body


def command_update(
    bot: Bot,
    text: str,
    *,
    user_id: int = 100000001,
    chat_id: int | None = None,
    language_code: str | None = "en",
    chat_type: str = "private",
    update_id: int = 1,
    edited: bool = False,
) -> Update:
    """An Update holding a command message, shaped like the recorded private-chat update."""
    raw = copy.deepcopy(_recorded("getUpdates_command_private.json")["result"][0])
    message = raw.pop("message")
    message["text"] = text
    # Telegram's bot_command entity covers "/name" or "/name@bot", whatever follows it.
    command = re.match(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?", text)
    command_length = len(command.group()) if command else len(text.split(" ", 1)[0])
    message["entities"] = [{"offset": 0, "length": command_length, "type": "bot_command"}]
    message["from"]["id"] = user_id
    if language_code is None:
        message["from"].pop("language_code", None)
    else:
        message["from"]["language_code"] = language_code
    message["chat"] = {"id": chat_id or user_id, "type": chat_type, "first_name": "Test"}
    if chat_type != "private":
        message["chat"] = {"id": chat_id or -1001234567890, "type": chat_type, "title": "Group"}
    if edited:
        message["edit_date"] = message["date"] + 5
    raw["update_id"] = update_id
    raw["edited_message" if edited else "message"] = message
    return Update.de_json(raw, bot)


@dataclass
class RecordedCall:
    """One Bot API call the bot made."""

    method: str
    parameters: dict[str, Any]


@dataclass
class RecordingRequest(BaseRequest):
    """A PTB request object that answers from recorded bodies and records every call."""

    calls: list[RecordedCall] = field(default_factory=list)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        parameters = dict(request_data.parameters) if request_data else {}
        self.calls.append(RecordedCall(api_method, parameters))
        return 200, json.dumps(
            {"ok": True, "result": self._result(api_method, parameters)}
        ).encode()

    def _result(self, method: str, parameters: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Example-bot",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method in {"sendMessage", "sendPhoto"}:
            sent = copy.deepcopy(_recorded("sendMessage_ok_group.json")["result"])
            sent["chat"] = {"id": parameters.get("chat_id"), "type": "private", "first_name": "T"}
            sent["text"] = parameters.get("text", "")
            return sent
        return True

    def sent_texts(self) -> list[str]:
        """The texts of every sendMessage call, in order."""
        return [call.parameters["text"] for call in self.calls if call.method == "sendMessage"]
