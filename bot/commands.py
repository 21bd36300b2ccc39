"""Each person's command menu matches their role (setMyCommands per chat scope)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.desk.menu import set_desk_menu

log = logging.getLogger(__name__)

# command -> (English, Spanish) description
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "start": ("Start", "Empezar"),
    "help": ("What I can do for you", "Qué puedo hacer por usted"),
    "cancel": ("Leave the current step", "Salir del paso actual"),
    "invite": ("Invite a staff member or therapist", "Invitar a personal o fisioterapeuta"),
    "enroll": ("Enroll a patient after a visit", "Registrar a un paciente"),
    "session": ("Record a new needling session", "Registrar una nueva sesión"),
    "symptom": ("Report a new symptom", "Informar de un síntoma nuevo"),
    "exercises": ("My home exercises", "Mis ejercicios en casa"),
    "pause": ("Pause messages for a few days", "Pausar los mensajes unos días"),
    "resume": ("Resume after a pause", "Reanudar tras una pausa"),
    "stop": ("Stop the follow-up", "Terminar el seguimiento"),
    "settings": ("Reminder time, time zone, language", "Hora, zona horaria, idioma"),
    "language": ("Change language", "Cambiar idioma"),
    "mydata": ("Get a copy of my data", "Obtener una copia de mis datos"),
    "delete": ("Erase my data", "Borrar mis datos"),
    "discharge": ("End a patient's course", "Dar el alta a un paciente"),
    "alerts": ("Open alerts", "Alertas abiertas"),
    "patients": ("My patients", "Mis pacientes"),
    "patient": ("A patient's card and pain chart", "Ficha y gráfica de un paciente"),
    "export": ("Export answers (CSV and FHIR)", "Exportar respuestas (CSV y FHIR)"),
    "audit": ("Last audit events", "Últimos eventos de auditoría"),
    "staff": ("Staff: roles, last activity, deactivate", "Personal: roles, actividad, desactivar"),
    "reassign": ("Give a patient another therapist", "Asignar otro fisioterapeuta"),
    "media": ("Add a picture or video to an exercise", "Añadir imagen o vídeo a un ejercicio"),
}

ROLE_COMMANDS: dict[str, tuple[str, ...]] = {
    "admin": (
        "invite",
        "staff",
        "enroll",
        "session",
        "discharge",
        "alerts",
        "patients",
        "patient",
        "export",
        "reassign",
        "audit",
        "cancel",
        "help",
    ),
    "staff": ("enroll", "session", "discharge", "cancel", "help"),
    "therapist": ("alerts", "patients", "patient", "export", "reassign", "media", "help"),
    "patient": (
        "symptom",
        "exercises",
        "pause",
        "resume",
        "stop",
        "settings",
        "language",
        "mydata",
        "delete",
        "help",
    ),
    "guest": ("start", "help"),
}


def commands_of(role: str | None, lang: str = "en") -> list[tuple[str, str]]:
    """(command, description) pairs of a role's menu, in the person's language."""
    names = ROLE_COMMANDS.get(role or "guest", ROLE_COMMANDS["guest"])
    index = 1 if lang == "es" else 0
    return [(name, DESCRIPTIONS[name][index]) for name in names]


def _bot_commands(role: str | None, lang: str) -> list[BotCommand]:
    return [BotCommand(command=c, description=d) for c, d in commands_of(role, lang)]


async def set_default_commands(bot: Bot) -> None:
    """The menu of people the bot does not know yet."""
    await bot.set_my_commands(_bot_commands(None, "en"), scope=BotCommandScopeDefault())
    await bot.set_my_commands(
        _bot_commands(None, "es"), scope=BotCommandScopeDefault(), language_code="es"
    )


async def set_commands_for(
    bot: Bot, chat_id: int, role: str | None, lang: str = "en", *, desk_url: str | None = None
) -> None:
    """Give this chat the menu of its role (and, with a desk, its menu button: the desk
    for therapists and admins). A failure here never breaks the flow."""
    try:
        await bot.set_my_commands(
            _bot_commands(role, lang), scope=BotCommandScopeChat(chat_id=chat_id)
        )
    except TelegramAPIError as exc:
        log.warning("setMyCommands failed for chat %s: %s", chat_id, exc.message)
    await set_desk_menu(bot, chat_id, role, desk_url)
