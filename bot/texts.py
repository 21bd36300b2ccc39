"""The bot's own texts (the protocol file holds the clinical ones), in English and Spanish.

Templates are HTML; every value put into them goes through aiogram's `html.quote`
in `t()`, so a name like ``Zoë <O'Brien> & 🦵`` can never break a message.
Staff read the language of CLINIC_LOCALE, patients their own: every key is in both.
A count is written with `bot.formatting.plural`: one key per CLDR plural form
("n_sessions.one", "n_sessions.other").
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from aiogram import html

CONSENT_VERSION = "2026-11-21.1"
LANGUAGES = ("en", "es")

_EN: dict[str, str] = {
    # --- everyone ---
    "unknown_user": (
        "Hello! I am <b>careloop</b>, the aftercare assistant of {clinic}. I follow up "
        "patients after a dry-needling session with short check-ins and exercise "
        "reminders.\n\nIf you are a patient, please ask the front desk for your personal "
        "link or QR code and open it on this phone."
    ),
    "help_header": "<b>Your commands</b>",
    "cancelled": "Cancelled. Nothing was saved.",
    "nothing_to_cancel": "There is nothing to cancel.",
    "button_expired": "This button has expired.",
    "try_again_soon": "Sorry, I could not handle that just now. Please send it again in a minute.",
    "unknown_command": "I did not understand that. /help lists your commands.",
    "not_allowed": "Sorry, that is not available to you.",
    "internal_error": "Sorry, something went wrong on our side. Please try again.",
    "control_chars": (
        "Your message contains invisible control characters, so I did not keep it. "
        "Please type it again (copying from another app can add them)."
    ),
    # --- tokens ---
    "link_unknown": ("This link is not valid. Please ask the clinic's front desk for a new one."),
    "link_expired": ("This link has expired. Please ask the clinic's front desk for a new one."),
    "link_used": "This link has already been used. Please ask the clinic for a new one.",
    "link_other_account": (
        "This link was already opened from another Telegram account, so it cannot be used "
        "here. Please ask the clinic's front desk for a new one."
    ),
    "link_account_taken": (
        "This Telegram account already follows another care plan, so it cannot join a "
        "second one. Please ask the clinic's front desk."
    ),
    "link_is_staff": "You are registered as clinic staff, so you cannot join as a patient.",
    # --- patient join ---
    "welcome": (
        "Welcome! Your therapist <b>{therapist}</b> at <b>{clinic}</b> has set up aftercare "
        "follow-up for you."
    ),
    "consent": (
        "<b>Before we start</b>\n\n"
        "• <b>What I send:</b> short check-ins a few hours, 24 h and 48 h after each "
        "session, daily exercise reminders, and one-tap questions about pain, soreness, "
        "the needle sites and warning signs.\n"
        "• <b>Not an emergency service.</b> This chat is not watched around the clock. "
        "In an emergency call <b>{emergency}</b>.\n"
        "• <b>What is stored:</b> your name as the clinic entered it, your answers and "
        "their times. Your therapist and the clinic's care team see them; no one else.\n"
        "• <b>Your control:</b> /pause to take a break, /stop to end the follow-up, "
        "/mydata to see your data and /delete to erase it.\n\n"
        "Do you agree?"
    ),
    "btn_agree": "I agree",
    "btn_decline": "No, thanks",
    "consent_agreed": "Thank you! You are all set. I will send your first check-in soon.",
    "session_advice_title": "<b>After your session {number}</b>",
    "clinic_unnamed": "the clinic",
    "checkin_continued": "<i>Continued below ↓</i>",
    "snooze_stale": "This reminder is from an earlier day, so it was not moved.",
    "consent_declined": (
        "Understood. I will not send you anything. If you change your mind, ask the "
        "clinic for a new link."
    ),
    "consent_not_pending": "Your answer was already recorded.",
    "patient_free_text": "I can't read messages like this one.",
    "safety": (
        "⚠️ This chat is not an emergency service and is not watched around the clock. "
        "In an emergency call <b>{emergency}</b>."
    ),
    "clinic_contact": "To talk to the clinic, call {phone}.",
    "patient_inactive": (
        "Your follow-up is not active. If you need help, please contact {clinic} directly."
    ),
    # --- check-ins and reminders ---
    "nudge": "⏰ A quick reminder: your check-in is still waiting for you.",
    "checkin_thanks": "Thank you, your answers are saved.",
    "already_recorded": "Already recorded ✓",
    "btn_multi_done": "Done",
    "multi_pick_first": "Please tap what is new first (or “Nothing new”), then Done.",
    "checkin_closed": "This check-in has closed. The next one will come at its time.",
    "checkin_closed_edit": (
        "<i>This check-in has closed. If something new worries you, tap below.</i>"
    ),
    "late_answer_closed": (
        "Thank you — this check-in has closed, so that answer was not recorded. The next one "
        "comes at its time. If something new worries you, tap <b>Report a new symptom</b>."
    ),
    "btn_symptom": "Report a new symptom",
    "symptom_unavailable": (
        "Please call the clinic on {phone} to tell them about a new symptom. "
        "In an emergency call <b>{emergency}</b>."
    ),
    "btn_snooze": "Remind me in 1 h",
    "btn_stop_reminders": "Stop exercise reminders",
    "exercise_snoozed": "OK, I will remind you again in an hour.",
    "exercise_stopped": "Exercise reminders are off. Turn them on again in /settings.",
    "exercise_dose": "• <b>{name}</b>: {dose}",
    "exercise_rest_day": "No strength exercises today; your stretches only if you feel like it.",
    # --- therapist notices ---
    "notice_unreachable": (
        "⚠️ <b>{name}</b> (#{patient_id}) has blocked the bot. Their follow-up is on hold "
        "and nothing more will be sent to them."
    ),
    "notice_stopped": "ℹ️ <b>{name}</b> (#{patient_id}) has stopped the follow-up with /stop.",
    # --- patient controls ---
    "pause_ask": "Pause all messages for how long?",
    "n_days.one": "{n} day",
    "n_days.other": "{n} days",
    "paused": "Paused until {until}. /resume to start again earlier.",
    "not_paused": "Your follow-up is not paused.",
    "resumed": "Welcome back! Your follow-up continues.",
    "stop_ask": (
        "Stop the follow-up completely? I will send nothing more and your therapist will be "
        "told. Your answers stay with the clinic unless you /delete them."
    ),
    "btn_stop_yes": "Yes, stop",
    "btn_stop_no": "No, keep going",
    "stopped": "The follow-up has stopped. Take care!",
    "stop_kept": "Good, your follow-up continues.",
    "settings_menu": (
        "<b>Your settings</b>\nExercise reminder: {time}\nTime zone: {tz}\nLanguage: {lang}"
    ),
    "btn_set_time": "Reminder time",
    "btn_set_tz": "Time zone",
    "btn_set_lang": "Language",
    "settings_time_ask": "Pick a time for your exercise reminder, or type one as HH:MM.",
    "settings_tz_ask": (
        "Tap your time zone, or type the city you are in (for example Madrid, Ciudad de "
        "México or New York)."
    ),
    "settings_time_bad": "Please type a time as HH:MM, for example 18:30.",
    "settings_tz_bad": (
        "I don't know that time zone. Please type it like Europe/Madrid or America/New_York."
    ),
    "settings_tz_unknown": (
        "I could not find a time zone for “{typed}”. Nothing was changed. Please type a "
        "nearby city (for example Madrid or New York), or tap a time zone above."
    ),
    "settings_tz_pick": "More than one time zone matches “{typed}”. Which one is yours?",
    "settings_tz_value": "{city} ({zone})",
    "settings_saved": "Saved.",
    "language_ask": "Choose your language:",
    "language_set": "Language set to English.",
    # --- data rights, discharge, free text ---
    "mydata_caption": "Everything we store about you, as a file you can keep.",
    "delete_ask": (
        "Erase your data? Your name, answers and messages will be deleted for good and the "
        "follow-up ends. The clinic's own medical records are not affected."
    ),
    "btn_delete_yes": "Yes, erase my data",
    "btn_delete_no": "No, keep it",
    "deleted": "Your data has been erased. Thank you for using careloop, and take care.",
    "delete_kept": "Nothing was erased.",
    "btn_pass_note": "Pass this message to my therapist",
    "note_passed": "Passed to your therapist. They read messages during opening hours.",
    "note_already": "This message was already passed on.",
    "discharge_patient": (
        "Your follow-up with {clinic} has ended — well done! I will not send you any more "
        "check-ins. Keep doing your exercises:\n{exercises}\n\n{safety}"
    ),
    "notice_discharged": "ℹ️ <b>{name}</b> (#{patient_id}) has been discharged.",
    "notice_erased": "ℹ️ Patient #{patient_id} has erased their data with /delete.",
    "discharge_pick": "Discharge which patient?",
    "discharge_done": (
        "<b>{name}</b> is discharged; they got a closing message with their exercises."
    ),
    # --- admin ---
    "invite_choose_role": "Whom do you want to invite?",
    "btn_role_staff": "Front-desk staff",
    "btn_role_therapist": "Therapist",
    "invite_link": (
        "Send this one-time link to the new <b>{role}</b>. It works once and expires in "
        "{hours} hours:\n{link}"
    ),
    "role_staff": "front-desk staff member",
    "role_therapist": "therapist",
    "role_admin": "admin",
    "registered": "Welcome to careloop, {name}! You are registered as <b>{role}</b>. {hint}",
    "hint_staff": "Use /enroll after a visit to start a patient's follow-up.",
    "hint_therapist": "You will receive alerts about your patients here.",
    "already_staff": "You are already registered as <b>{role}</b>.",
    "invite_is_patient": "This Telegram account follows a care plan, so it cannot be staff.",
    "admin_registered": "Welcome, admin! Use /invite to bring in staff and therapists.",
    # --- staff leave ---
    "access_off": "Your access has been turned off — ask an admin.",
    "staff_header": "<b>Staff</b> ({count})",
    "staff_line": "• <b>{name}</b> (#{id}) · {role} · {state} · last seen {seen}",
    "staff_active": "active",
    "staff_inactive": "inactive since {when}",
    "staff_never": "never",
    "btn_deactivate": "Deactivate {name}",
    "staff_confirm": (
        "Turn off the access of <b>{name}</b> ({role})?\n"
        "• {alerts}: passed to the other therapists and the admins\n"
        "• {patients}: listed for you to reassign"
    ),
    "btn_confirm_deactivate": "Yes, deactivate",
    "btn_keep": "No, keep",
    "staff_kept": "Nothing changed.",
    "staff_deactivated": (
        "<b>{name}</b> is deactivated. {alerts}: passed to the other therapists."
    ),
    "staff_patients": "Their patients ({count}): tap one to give them a new therapist.",
    "staff_no_patients": "They had no patients in follow-up.",
    "staff_not_self": "You cannot deactivate yourself.",
    "staff_listed_admin": (
        "This person is in ADMIN_IDS, which makes them an admin at every contact. Remove "
        "them from ADMIN_IDS first (and restart the bot)."
    ),
    "staff_already_inactive": "This person is already deactivated.",
    "reassign_pick": "Which patient gets a new therapist?",
    "reassign_none": "There is no patient you can reassign.",
    "reassign_to": "Who is the new therapist of <b>{name}</b>?",
    "reassign_no_targets": "There is no other active therapist. Ask an admin to /invite one.",
    "reassign_bad_target": "That therapist cannot take patients.",
    "reassign_same": "That is already their therapist.",
    "reassign_done": "<b>{name}</b> now has <b>{therapist}</b> as therapist; they were told.",
    "therapist_changed": (
        "Your therapist at {clinic} is now <b>{therapist}</b>. Your follow-up carries on as before."
    ),
    # --- enrollment ---
    "enroll_name": (
        "New patient. What name should the messages use? (1–64 characters)\n/cancel to stop."
    ),
    "enroll_name_empty": "Please type the patient's name (1–64 characters).",
    "enroll_name_too_long": (
        "That name has {length} characters; the limit is 64. Please shorten it."
    ),
    "enroll_no_therapists": (
        "There is no registered therapist yet. Ask an admin to /invite one first."
    ),
    "enroll_therapist": "Who is the treating therapist of <b>{name}</b>?",
    "enroll_time": (
        "When did the session end? Tap a choice or type the time today as HH:MM ({tz})."
    ),
    "btn_now": "Just now",
    "btn_minutes_ago": "{minutes} min ago",
    "btn_hours_ago": "{hours} h ago",
    "enroll_time_bad": "Please type a time as HH:MM (for example 14:30), or tap a choice.",
    "enroll_time_future": "{time} is later than now ({now}). Please give a time that has passed.",
    "enroll_regions": "Which regions were needled? Tap all that apply, then <b>Done</b>.",
    "btn_done": "Done",
    "enroll_regions_none": "Please select at least one region.",
    "enroll_baseline": "Usual pain before treatment, 0 (none) to 10 (worst imaginable)?",
    "use_buttons": "Please use the buttons above, or /cancel to stop.",
    "enroll_done": (
        "<b>{name}</b> is enrolled with {therapist}.\n"
        "Session ended {ended} · regions: {regions} · baseline pain {baseline}/10.\n\n"
        "Show the QR code to the patient, or send them this one-time link "
        "(valid {hours} h):\n{link}"
    ),
    "enroll_qr_caption": "Scan to join {clinic}'s aftercare follow-up.",
    "session_pick": "New session for which patient?",
    "session_no_patients": "No patient is in follow-up at the moment.",
    "session_done": (
        "Session {number} recorded for <b>{name}</b>. Its check-ins are planned; pending ones "
        "of the previous session were replaced."
    ),
    "session_patient_gone": "This patient is no longer in follow-up.",
    "session_future": "That time has not come yet.",
    "session_before_last": "That is not after the patient's previous session.",
    "enroll_failed": "The patient could not be enrolled: {reason}. Nothing was saved.",
    # --- front desk (issue 14, items 7–11) ---
    "unknown_staff": (
        "This command is for clinic staff, and this Telegram account is not registered as "
        "staff. Please ask a clinic admin for an invitation link and open it here."
    ),
    "btn_page_previous": "« Previous",
    "btn_page_next": "Next »",
    "pick_hint.one": (
        "{n} patient, page {page} of {pages}. Tap the name, or type part of a name to find it."
    ),
    "pick_hint.other": (
        "{n} patients, page {page} of {pages}. Tap a name, or type part of a name to find it."
    ),
    "search_none": "No patient's name contains “{typed}”. Type another part of the name.",
    "search_found.one": "{n} patient matches “{typed}”:",
    "search_found.other": "{n} patients match “{typed}”:",
    "search_many": (
        "{count} patients match “{typed}”; here are the first {shown}. Type more of the "
        "name to narrow it down."
    ),
    "discharge_confirm": "Discharge <b>{name}</b> (#{patient_id})?",
    "discharge_nothing_open": "Nothing is open: no alert waits, no check-in is pending.",
    "discharge_open_header": "<b>Still open:</b>",
    "discharge_open_alert": "• {tier} alert raised {raised}, {state}",
    "discharge_alert_unacked": "not acknowledged yet",
    "discharge_alert_callback": "acknowledged, call back not done yet",
    "discharge_open_checkins.one": "• {n} check-in sent and not answered yet",
    "discharge_open_checkins.other": "• {n} check-ins sent and not answered yet",
    "discharge_planned_checkins.one": "• {n} check-in planned",
    "discharge_planned_checkins.other": "• {n} check-ins planned",
    "discharge_consequences": (
        "If you discharge: the pending check-ins are cancelled and the patient gets a "
        "closing message with their exercises. Open alerts stay with the therapist until "
        "answered."
    ),
    "btn_discharge_yes": "Yes, discharge",
    "btn_discharge_no": "No, keep in follow-up",
    "discharge_kept": "Nothing changed: <b>{name}</b> stays in follow-up.",
    "discharge_already": "This patient is already discharged; nothing changed.",
    "patients_ended_header": "<b>Ended courses</b> ({count}): discharged, stopped or declined 🏁",
    "patients_ended_none": "No ended courses.",
    "btn_ended_courses": "Ended courses 🏁",
    "btn_in_follow_up": "« In follow-up",
    "enroll_legs": (
        "Does <b>{name}</b> have buttock or leg symptoms (pain, tingling or loss of feeling "
        "in the buttock or leg)? If yes, their check-ins also ask about the warning signs of "
        "nerve compression."
    ),
    "btn_legs_yes": "Yes",
    "btn_legs_no": "No",
    "enroll_screening": (
        "Screening for the therapist: tick what applies to <b>{name}</b>, then <b>Done</b>, "
        "or tap <b>None of these</b>. It is shown on the patient's card and first alert; it "
        "never stops the enrollment."
    ),
    "screen_anticoagulants": "Takes anticoagulants",
    "screen_pregnancy": "Pregnant",
    "screen_diabetes_immunosuppression": "Diabetes or immunosuppression",
    "screen_first_needling": "First-ever dry needling",
    "btn_screen_none": "None of these",
    "btn_screen_done": "Done",
    "enroll_screening_pick": "Tick what applies, or tap “None of these”.",
    "screening_none": "none of these",
    "screening_legs_yes": "buttock or leg symptoms",
    "screening_legs_no": "no buttock or leg symptoms",
    "screening_line": "<b>Screening:</b> {facts} · {legs}",
    "screening_not_recorded": "<b>Screening:</b> not recorded",
    # --- home programme (issue 15) ---
    "dose_reps": "{sets} × {amount}",
    "dose_seconds": "{sets} × {amount} s",
    "dose_minutes": "{sets} × {amount} min",
    "dose_minutes_once": "{amount} min",
    "dose_each_side": "{dose} each side",
    "dose_every_day": "{dose}, every day",
    "dose_once_a_week": "{dose}, once a week",
    "dose_days_a_week": "{dose}, {days} days a week",
    "exercise_card": "<b>{name}</b>: {dose}\n{instructions}",
    "programme_added": "Your therapist added an exercise to your home programme:",
    "programme_removed": (
        "Your therapist took <b>{name}</b> off your home programme: you need not do it any more."
    ),
    "programme_dose": "Your therapist changed how much to do of an exercise:",
    "programme_progressed": ("Your therapist moved you on from <b>{name}</b> to its next step:"),
    "programme_footer": "Your whole programme is in /exercises.",
    "btn_ex_done": "◻️ {name}",
    "btn_ex_logged": "✅ {name}",
    "btn_ex_pain": "😣 Too painful",
    "btn_ex_pain_logged": "😣 Noted",
    "btn_ex_all_done": "✅ All done",
    "ex_logged": "Well done: logged ✓",
    "ex_all_logged": "Well done: all of today's exercises logged ✓",
    "ex_already_logged": "Already logged ✓",
    "ex_pain_logged": (
        "Noted. Leave this exercise out for now; your therapist will see it. Stop any "
        "exercise for sharp or worsening pain, dizziness or chest symptoms."
    ),
    "exercises_header": "<b>Your home programme</b>",
    "exercises_footer": (
        "Stop any exercise for sharp or worsening pain, dizziness or chest symptoms."
    ),
    # --- counts (bot.formatting.plural) ---
    "n_sessions.one": "{n} session",
    "n_sessions.other": "{n} sessions",
    "n_open_alerts.one": "{n} open alert",
    "n_open_alerts.other": "{n} open alerts",
    "n_patients.one": "{n} patient",
    "n_patients.other": "{n} patients",
    "n_escalations.one": "⏫ {n} escalation",
    "n_escalations.other": "⏫ {n} escalations",
    # --- alert cards ---
    "tier_urgent": "🔴 URGENT",
    "tier_urgent_callback": "🟠 URGENT — call back",
    "tier_soon": "🟡 SOON — review today",
    "tier_routine": "⚪ Routine",
    "tier_word_urgent": "URGENT",
    "tier_word_urgent_callback": "URGENT callback",
    "tier_word_soon": "SOON",
    "tier_word_routine": "routine",
    "question_Q1": "soreness",
    "question_Q2": "usual pain",
    "card_escalation": "⏫ <b>Escalation {level}</b>: not acknowledged yet",
    "card_callback_overdue": "⏫ <b>Call back overdue</b>: not marked done in time",
    "card_resent": "🔁 <b>Re-sent</b>: not acknowledged since {when}",
    "card_rerouted": "↪️ <b>Sent to you</b>: the treating therapist cannot be reached",
    "card_earlier.one": "• … {n} earlier line: tap History",
    "card_earlier.other": "• … {n} earlier lines: tap History",
    "card_rating": "{question} {value} ({when})",
    "card_last_ratings": "Last ratings: {ratings}",
    "card_raised": "Raised {when}",
    "card_seen": "{raised} · seen ×{count}",
    "card_acknowledged": "✅ <b>Acknowledged by {name} at {when}</b>",
    "card_called_back": "📞 <b>Called back by {name} at {when}</b>",
    "card_superseded": "⏭ <b>Superseded</b>: a newer alert for this patient was sent",
    "btn_acknowledge": "Acknowledge",
    "btn_history": "History",
    "btn_call_back_done": "Call back done",
    "notice_new": "➕ <b>New for {name}</b> (#{patient_id}) · {tier}",
    "notice_same": "The same finding again",
    "notice_updated": "The alert above is updated.",
    # --- alert reasons: one sentence each, from the finding's facts ---
    "after_session": "{span} after session {session}",
    "reason_pain_Q1": "Needle-site soreness {value}/10 {after}",
    "reason_pain_Q2": "Pain {value}/10 {after}, {diff} above their usual {baseline}",
    "reason_pain_Q2_not_above": "Pain {value}/10 {after} (their usual: {baseline})",
    "reason_exercise_painful": "Home exercise too painful: {exercises}",
    "reason_exercise_painful_repeated.one": (
        "{exercise} too painful on {n} day in {window}: review the exercise"
    ),
    "reason_exercise_painful_repeated.other": (
        "{exercise} too painful on {n} days in {window}: review the exercise"
    ),
    "reason_q1_not_falling": (
        "Needle-site soreness {value}/10 {after}, not lower than {before}/10 the day before"
    ),
    "reason_q1_after_24": "Needle-site soreness {value}/10 {after} ({before}/10 the day before)",
    "reason_q1_no_24": "Needle-site soreness {value}/10 {after} (no answer the day before)",
    "reason_q5_chest_trunk": (
        "Chest pain, pain on a deep breath, shortness of breath or a new dry cough {after}; "
        "the trunk was needled at session {trunk}, {since} before"
    ),
    "reason_q5_chest": (
        "Chest pain, pain on a deep breath, shortness of breath or a new dry cough {after}; "
        "no trunk needling in the last {window} (they were shown the emergency text)"
    ),
    "reason_q6_cauda_equina": (
        "Possible cauda equina signs (saddle numbness, bladder or bowel change, or both legs) "
        "{after}"
    ),
    "reason_leg_weakness": "New leg weakness or foot catching {after}",
    "reason_fainted": "Fainted after leaving the clinic, reported {after}",
    "reason_bleeding": "Bleeding at a needle site that will not stop, {after}",
    "reason_fever_spreading_redness": (
        "Fever or chills {after} with spreading redness or warmth at a needle site {site_after}"
    ),
    "reason_fever_site_swelling": (
        "Fever or chills {after} with swelling or pus at a needle site {site_after}"
    ),
    "reason_site_swelling": "Swelling or pus at a needle site {after}, no fever reported",
    "reason_site_redness": (
        "Spreading redness or warmth at a needle site {after}, no fever reported"
    ),
    "reason_fever": (
        "Fever or chills {after}, with no redness, swelling or pus at the needle sites"
    ),
    "reason_felt_faint": (
        "Felt faint {after} (it has passed); advised to lie down and not to drive"
    ),
    "reason_numbness": "New numbness or tingling {after}",
    "reason_numbness_twice": "New numbness or tingling {first} and again {after}",
    "reason_missed.one": "No reply to {n} check-in in a row after a session, one reminder each",
    "reason_missed.other": (
        "No reply to {n} check-ins in a row after a session, one reminder each"
    ),
    "reason_patient_message": "Asked to talk to you and passed on a message in their own words",
    "reason_words": "{reason}: “{words}”",
    "reason_late": "{reason} (tapped late, on a check-in that had closed)",
    "reason_changed": "{reason} (changed by a second tap, after a calmer answer)",
    "reason_low_adherence": (
        "Exercises done on fewer than {percent} of the {planned} planned days, "
        "{weeks} weeks running ({detail})"
    ),
    "reason_week": "week of {day}: {done}/{planned}",
    # --- /alerts and the therapist's desk ---
    "no_open_alerts": "No open alerts. 🎉",
    "alerts_header": "<b>Open alerts</b> ({count}) · page {page} of {pages}",
    "alerts_line": "{number}. {tier} <b>{name}</b> · {reason} · {age}",
    "alerts_more_reasons": "{reason} (+{more})",
    "btn_open": "{number}. {name}",
    "btn_ack_number": "✅ {number}",
    "btn_previous": "« Previous",
    "btn_next": "Next »",
    "open_private_chat": (
        "Open a private chat with the bot first: t.me/{bot} (tap Start), then tap the button again."
    ),
    "already_acknowledged": "Already acknowledged by {name}.",
    "already_called_back": "Call back already recorded by {name}.",
    "someone": "someone",
    "acknowledged_done": "Acknowledged ✓",
    "called_back_done": "Call back recorded ✓",
    "csv_caption.one": "{n} answer, CSV.",
    "csv_caption.other": "{n} answers, CSV.",
    "fhir_caption": "The same answers as a FHIR R4 Bundle of Observations.",
    "patients_header": "<b>Your patients</b> ({count})",
    "patients_pick": "Which patient?",
    "patients_none": "No patients in follow-up.",
    "patient_line": (
        "• <b>{name}</b> (#{id}): pain {last}/10 {trend} (baseline {baseline}) · {sessions}"
    ),
    "patient_line_alerts": "{line} · ⚠️ {alerts}",
    "card_head": "<b>{name}</b> (#{id}) · baseline {baseline}/10 · {sessions}",
    "card_answered": "Check-ins answered: {answered}/{sent}",
    "card_exercise_days": "Exercise days per week: {days}",
    "card_not_reported": "not reported yet",
    "card_none_yet": "none yet",
    # --- the daily digest ---
    "digest_header": "<b>Daily digest</b> · {date}",
    "digest_waiting": "⚠️ {tier} alert not acknowledged for {age}: {reasons}",
    "digest_missed.one": "{n} check-in left unanswered yesterday",
    "digest_missed.other": "{n} check-ins left unanswered yesterday",
    "digest_more": "…and {count} more: see /alerts and /patients",
    "reason_no_progress_reading": (
        "No weekly usual-pain reading to judge progress by at session {sessions}: ask for one"
    ),
    "reason_reevaluate": (
        "Usual pain {last}/10 after {sessions_n}, baseline {baseline}: re-evaluate the "
        "diagnosis and plan"
    ),
    "reason_stall": (
        "No sign of benefit after {sessions_n} (usual pain {last}/10, baseline {baseline}): "
        "review the plan"
    ),
    "reason_plateau": "Usual pain {values} on the last weekly readings: no longer improving",
    "reason_recovered": (
        "Usual pain {last}/10 (baseline {baseline}) after {sessions_n}: consider spacing "
        "sessions or discharge"
    ),
    "reason_adherence_not_reported": "Exercise days not reported for {weeks} weeks in a row",
    "audit_header": "<b>Last audit events</b>",
    "audit_none": "Nothing yet.",
    # the patient card's adherence from the exercise logs (issue 15 step 6)
    "card_adherence_header": "<b>Home exercises</b>, days done/planned (7 d · 28 d):",
    "card_adherence_line": "• {name}: {done7}/{planned7} · {done28}/{planned28}",
    "card_adherence_none": "<b>Home exercises:</b> nothing logged yet",
}

_ES: dict[str, str] = {
    "access_off": "Su acceso ha sido desactivado; consulte a un administrador.",
    "therapist_changed": (
        "Su fisioterapeuta en {clinic} es ahora <b>{therapist}</b>. Su seguimiento "
        "continúa como hasta ahora."
    ),
    "unknown_user": (
        "¡Hola! Soy <b>careloop</b>, el asistente de cuidados posteriores de {clinic}. "
        "Hago el seguimiento de los pacientes después de una sesión de punción seca con "
        "breves controles y recordatorios de ejercicios.\n\nSi es paciente, pida en "
        "recepción su enlace personal o su código QR y ábralo en este teléfono."
    ),
    "help_header": "<b>Sus comandos</b>",
    "cancelled": "Cancelado. No se ha guardado nada.",
    "nothing_to_cancel": "No hay nada que cancelar.",
    "button_expired": "Este botón ha caducado.",
    "try_again_soon": (
        "Lo siento, ahora no he podido atenderlo. Vuelva a enviarlo dentro de un minuto."
    ),
    "unknown_command": "No he entendido eso. /help muestra sus comandos.",
    "not_allowed": "Lo sentimos, esa opción no está disponible para usted.",
    "internal_error": "Lo sentimos, algo ha fallado por nuestra parte. Inténtelo de nuevo.",
    "control_chars": (
        "Su mensaje contiene caracteres de control invisibles, así que no lo he guardado. "
        "Escríbalo de nuevo, por favor (copiar de otra aplicación puede añadirlos)."
    ),
    "nudge": "⏰ Un recordatorio rápido: su control le está esperando.",
    "checkin_thanks": "Gracias, sus respuestas se han guardado.",
    "already_recorded": "Ya estaba registrado ✓",
    "btn_multi_done": "Listo",
    "multi_pick_first": "Primero toque lo que sea nuevo (o «Nada nuevo») y después «Listo».",
    "checkin_closed": "Este control ya está cerrado. El siguiente llegará a su hora.",
    "checkin_closed_edit": (
        "<i>Este control se ha cerrado. Si algo nuevo le preocupa, toque abajo.</i>"
    ),
    "late_answer_closed": (
        "Gracias. Este control ya está cerrado, así que esa respuesta no se ha registrado. El "
        "siguiente llegará a su hora. Si algo nuevo le preocupa, toque <b>Informar de un "
        "síntoma nuevo</b>."
    ),
    "btn_symptom": "Informar de un síntoma nuevo",
    "symptom_unavailable": (
        "Llame a la clínica al {phone} para contarles un síntoma nuevo. "
        "En caso de urgencia llame al <b>{emergency}</b>."
    ),
    "btn_snooze": "Recuérdemelo en 1 h",
    "btn_stop_reminders": "Parar recordatorios de ejercicios",
    "exercise_snoozed": "De acuerdo, se lo recordaré dentro de una hora.",
    "exercise_stopped": (
        "Recordatorios de ejercicios desactivados. Puede reactivarlos en /settings."
    ),
    "exercise_dose": "• <b>{name}</b>: {dose}",
    "exercise_rest_day": "Hoy no tocan ejercicios de fuerza; solo estiramientos si le apetece.",
    "pause_ask": "¿Durante cuánto tiempo quiere pausar los mensajes?",
    "n_days.one": "{n} día",
    "n_days.other": "{n} días",
    "paused": "En pausa hasta {until}. /resume para reanudar antes.",
    "not_paused": "Su seguimiento no está en pausa.",
    "resumed": "¡Bienvenido/a de nuevo! Su seguimiento continúa.",
    "stop_ask": (
        "¿Quiere terminar el seguimiento por completo? No le enviaré nada más y se avisará a su "
        "fisioterapeuta. Sus respuestas se quedan en la clínica salvo que las borre con /delete."
    ),
    "btn_stop_yes": "Sí, terminar",
    "btn_stop_no": "No, continuar",
    "stopped": "El seguimiento ha terminado. ¡Cuídese!",
    "stop_kept": "Bien, su seguimiento continúa.",
    "settings_menu": (
        "<b>Sus ajustes</b>\nRecordatorio de ejercicios: {time}\nZona horaria: {tz}\nIdioma: {lang}"
    ),
    "btn_set_time": "Hora del recordatorio",
    "btn_set_tz": "Zona horaria",
    "btn_set_lang": "Idioma",
    "settings_time_ask": "Elija la hora del recordatorio de ejercicios, o escríbala como HH:MM.",
    "settings_tz_ask": (
        "Toque su zona horaria, o escriba la ciudad donde está (por ejemplo Madrid, Ciudad "
        "de México o Nueva York)."
    ),
    "settings_time_bad": "Escriba una hora como HH:MM, por ejemplo 18:30.",
    "settings_tz_bad": (
        "No conozco esa zona horaria. Escríbala como Europe/Madrid o America/New_York."
    ),
    "settings_tz_unknown": (
        "No he encontrado ninguna zona horaria para «{typed}». No se ha cambiado nada. "
        "Escriba una ciudad cercana (por ejemplo Madrid o Nueva York), o toque una zona "
        "horaria de arriba."
    ),
    "settings_tz_pick": "Hay más de una zona horaria para «{typed}». ¿Cuál es la suya?",
    "settings_tz_value": "{city} ({zone})",
    "settings_saved": "Guardado.",
    "language_ask": "Elija su idioma:",
    "language_set": "Idioma cambiado a español.",
    "mydata_caption": "Todo lo que guardamos sobre usted, en un archivo que puede conservar.",
    "delete_ask": (
        "¿Borrar sus datos? Su nombre, respuestas y mensajes se eliminarán definitivamente y "
        "el seguimiento terminará. La historia clínica de la clínica no se ve afectada."
    ),
    "btn_delete_yes": "Sí, borrar mis datos",
    "btn_delete_no": "No, conservarlos",
    "deleted": "Sus datos se han borrado. Gracias por usar careloop, y cuídese.",
    "delete_kept": "No se ha borrado nada.",
    "btn_pass_note": "Enviar este mensaje a mi fisioterapeuta",
    "note_passed": "Enviado a su fisioterapeuta. Lee los mensajes en horario de consulta.",
    "note_already": "Este mensaje ya se había enviado.",
    "discharge_patient": (
        "Su seguimiento con {clinic} ha terminado. ¡Enhorabuena! No le enviaré más "
        "controles. Siga con sus ejercicios:\n{exercises}\n\n{safety}"
    ),
    "link_unknown": "Este enlace no es válido. Pida uno nuevo en la recepción de la clínica.",
    "link_expired": "Este enlace ha caducado. Pida uno nuevo en la recepción de la clínica.",
    "link_used": "Este enlace ya se ha utilizado. Pida uno nuevo en la clínica.",
    "link_other_account": (
        "Este enlace ya se abrió desde otra cuenta de Telegram y no se puede usar aquí. "
        "Pida uno nuevo en la recepción de la clínica."
    ),
    "link_account_taken": (
        "Esta cuenta de Telegram ya sigue otro plan de cuidados y no puede unirse a un "
        "segundo. Consulte en la recepción de la clínica."
    ),
    "link_is_staff": "Está registrado como personal de la clínica; no puede unirse como paciente.",
    "welcome": (
        "¡Bienvenido/a! Su fisioterapeuta <b>{therapist}</b>, de <b>{clinic}</b>, ha "
        "preparado su seguimiento posterior al tratamiento."
    ),
    "consent": (
        "<b>Antes de empezar</b>\n\n"
        "• <b>Qué le enviaré:</b> breves controles unas horas, 24 h y 48 h después de "
        "cada sesión, recordatorios diarios de ejercicios y preguntas de un toque sobre "
        "dolor, molestias, las zonas de punción y signos de alarma.\n"
        "• <b>No es un servicio de urgencias.</b> Este chat no se atiende las 24 horas. "
        "En caso de urgencia llame al <b>{emergency}</b>.\n"
        "• <b>Qué se guarda:</b> su nombre tal como lo registró la clínica, sus respuestas "
        "y sus horas. Los ven su fisioterapeuta y el equipo asistencial de la clínica; "
        "nadie más.\n"
        "• <b>Usted decide:</b> /pause para hacer una pausa, /stop para terminar el "
        "seguimiento, /mydata para ver sus datos y /delete para borrarlos.\n\n"
        "¿Está de acuerdo?"
    ),
    "btn_agree": "Acepto",
    "btn_decline": "No, gracias",
    "consent_agreed": "¡Gracias! Todo listo. Pronto le enviaré su primer control.",
    "session_advice_title": "<b>Después de su sesión {number}</b>",
    "clinic_unnamed": "la clínica",
    "checkin_continued": "<i>Continúa abajo ↓</i>",
    "snooze_stale": "Este recordatorio es de un día anterior; no se ha aplazado.",
    "consent_declined": (
        "Entendido. No le enviaré nada. Si cambia de opinión, pida un enlace nuevo en la clínica."
    ),
    "consent_not_pending": "Su respuesta ya estaba registrada.",
    "patient_free_text": "No puedo leer mensajes como este.",
    "safety": (
        "⚠️ Este chat no es un servicio de urgencias y no se atiende las 24 horas. "
        "En caso de urgencia llame al <b>{emergency}</b>."
    ),
    "clinic_contact": "Para hablar con la clínica, llame al {phone}.",
    "patient_inactive": (
        "Su seguimiento no está activo. Si necesita ayuda, contacte directamente con {clinic}."
    ),
    # --- front desk (issue 14, items 7–11) ---
    "unknown_staff": (
        "Este comando es para el personal de la clínica, y esta cuenta de Telegram no está "
        "registrada como personal. Pida a un administrador de la clínica un enlace de "
        "invitación y ábralo aquí."
    ),
    "btn_page_previous": "« Anterior",
    "btn_page_next": "Siguiente »",
    "pick_hint.one": (
        "{n} paciente, página {page} de {pages}. Toque el nombre o escriba parte de un "
        "nombre para buscarlo."
    ),
    "pick_hint.other": (
        "{n} pacientes, página {page} de {pages}. Toque un nombre o escriba parte de un "
        "nombre para buscarlo."
    ),
    "search_none": (
        "Ningún paciente tiene «{typed}» en el nombre. Escriba otra parte del nombre."
    ),
    "search_found.one": "{n} paciente coincide con «{typed}»:",
    "search_found.other": "{n} pacientes coinciden con «{typed}»:",
    "search_many": (
        "{count} pacientes coinciden con «{typed}»; estos son los {shown} primeros. Escriba "
        "más del nombre para acotar."
    ),
    "discharge_confirm": "¿Dar el alta a <b>{name}</b> (n.º {patient_id})?",
    "discharge_nothing_open": "No hay nada pendiente: ninguna alerta espera, ningún control.",
    "discharge_open_header": "<b>Sigue pendiente:</b>",
    "discharge_open_alert": "• Alerta {tier} del {raised}, {state}",
    "discharge_alert_unacked": "aún sin confirmar",
    "discharge_alert_callback": "confirmada, falta devolver la llamada",
    "discharge_open_checkins.one": "• {n} control enviado sin respuesta",
    "discharge_open_checkins.other": "• {n} controles enviados sin respuesta",
    "discharge_planned_checkins.one": "• {n} control programado",
    "discharge_planned_checkins.other": "• {n} controles programados",
    "discharge_consequences": (
        "Si da el alta: se cancelan los controles pendientes y el paciente recibe un "
        "mensaje de cierre con sus ejercicios. Las alertas abiertas siguen con el "
        "fisioterapeuta hasta que las atienda."
    ),
    "btn_discharge_yes": "Sí, dar el alta",
    "btn_discharge_no": "No, mantener el seguimiento",
    "discharge_kept": "No ha cambiado nada: <b>{name}</b> sigue en seguimiento.",
    "discharge_already": "Este paciente ya tiene el alta; no ha cambiado nada.",
    "patients_ended_header": (
        "<b>Seguimientos terminados</b> ({count}): alta, baja voluntaria o rechazo 🏁"
    ),
    "patients_ended_none": "No hay seguimientos terminados.",
    "btn_ended_courses": "Terminados 🏁",
    "btn_in_follow_up": "« En seguimiento",
    "enroll_legs": (
        "¿Tiene <b>{name}</b> síntomas en el glúteo o la pierna (dolor, entumecimiento u "
        "hormigueo en el glúteo o la pierna)? Si es así, sus controles también preguntan por "
        "los signos de alarma de compresión nerviosa."
    ),
    "btn_legs_yes": "Sí",
    "btn_legs_no": "No",
    "enroll_screening": (
        "Cribado para el fisioterapeuta: marque lo que corresponda a <b>{name}</b> y pulse "
        "<b>Hecho</b>, o pulse <b>Nada de esto</b>. Se muestra en la ficha del paciente y en "
        "su primera alerta; nunca impide registrarlo."
    ),
    "screen_anticoagulants": "Toma anticoagulantes",
    "screen_pregnancy": "Embarazada",
    "screen_diabetes_immunosuppression": "Diabetes o inmunodepresión",
    "screen_first_needling": "Primera punción seca",
    "btn_screen_none": "Nada de esto",
    "btn_screen_done": "Hecho",
    "enroll_screening_pick": "Marque lo que corresponda o pulse «Nada de esto».",
    "screening_none": "nada de esto",
    "screening_legs_yes": "síntomas en glúteo o pierna",
    "screening_legs_no": "sin síntomas en glúteo ni pierna",
    "screening_line": "<b>Cribado:</b> {facts} · {legs}",
    "screening_not_recorded": "<b>Cribado:</b> no registrado",
    # --- home programme (issue 15) ---
    "dose_reps": "{sets} × {amount}",
    "dose_seconds": "{sets} × {amount} s",
    "dose_minutes": "{sets} × {amount} min",
    "dose_minutes_once": "{amount} min",
    "dose_each_side": "{dose} por cada lado",
    "dose_every_day": "{dose}, todos los días",
    "dose_once_a_week": "{dose}, una vez a la semana",
    "dose_days_a_week": "{dose}, {days} días a la semana",
    "exercise_card": "<b>{name}</b>: {dose}\n{instructions}",
    "programme_added": "Su fisioterapeuta ha añadido un ejercicio a su programa en casa:",
    "programme_removed": (
        "Su fisioterapeuta ha quitado <b>{name}</b> de su programa en casa: ya no tiene que "
        "hacerlo."
    ),
    "programme_dose": "Su fisioterapeuta ha cambiado cuánto debe hacer de un ejercicio:",
    "programme_progressed": (
        "Su fisioterapeuta le ha hecho avanzar de <b>{name}</b> a su siguiente paso:"
    ),
    "programme_footer": "Tiene todo su programa en /exercises.",
    "btn_ex_done": "◻️ {name}",
    "btn_ex_logged": "✅ {name}",
    "btn_ex_pain": "😣 Duele demasiado",
    "btn_ex_pain_logged": "😣 Anotado",
    "btn_ex_all_done": "✅ Todos hechos",
    "ex_logged": "Muy bien: anotado ✓",
    "ex_all_logged": "Muy bien: todos los ejercicios de hoy anotados ✓",
    "ex_already_logged": "Ya estaba anotado ✓",
    "ex_pain_logged": (
        "Anotado. Deje este ejercicio por ahora; su fisioterapeuta lo verá. Pare cualquier "
        "ejercicio si nota dolor punzante o que va a más, mareo o molestias en el pecho."
    ),
    "exercises_header": "<b>Su programa en casa</b>",
    "exercises_footer": (
        "Pare cualquier ejercicio si nota dolor punzante o que va a más, mareo o molestias "
        "en el pecho."
    ),
    # --- staff (the language of CLINIC_LOCALE): usted; a check-in is a «control» ---
    "notice_unreachable": (
        "⚠️ <b>{name}</b> (#{patient_id}) ha bloqueado el bot. Su seguimiento queda en espera "
        "y no se le enviará nada más."
    ),
    "notice_stopped": "ℹ️ <b>{name}</b> (#{patient_id}) ha terminado el seguimiento con /stop.",
    "notice_discharged": "ℹ️ <b>{name}</b> (#{patient_id}) ha recibido el alta.",
    "notice_erased": "ℹ️ El paciente #{patient_id} ha borrado sus datos con /delete.",
    "discharge_pick": "¿A qué paciente quiere dar el alta?",
    "discharge_done": (
        "<b>{name}</b> ha recibido el alta; se le ha enviado un mensaje de cierre con sus "
        "ejercicios."
    ),
    "invite_choose_role": "¿A quién quiere invitar?",
    "btn_role_staff": "Personal de recepción",
    "btn_role_therapist": "Fisioterapeuta",
    "invite_link": (
        "Envíe este enlace de un solo uso al nuevo <b>{role}</b>. Funciona una vez y caduca "
        "en {hours} horas:\n{link}"
    ),
    "role_staff": "miembro del personal de recepción",
    "role_therapist": "fisioterapeuta",
    "role_admin": "administrador",
    "registered": "¡Bienvenido/a a careloop, {name}! Está registrado como <b>{role}</b>. {hint}",
    "hint_staff": "Use /enroll después de una visita para registrar a un paciente.",
    "hint_therapist": "Aquí recibirá las alertas de sus pacientes.",
    "already_staff": "Ya está registrado como <b>{role}</b>.",
    "invite_is_patient": (
        "Esta cuenta de Telegram sigue un plan de cuidados, así que no puede ser personal."
    ),
    "admin_registered": (
        "¡Bienvenido/a, administrador! Use /invite para invitar a personal y fisioterapeutas."
    ),
    "staff_header": "<b>Personal</b> ({count})",
    "staff_line": "• <b>{name}</b> (#{id}) · {role} · {state} · última actividad {seen}",
    "staff_active": "activo",
    "staff_inactive": "inactivo desde {when}",
    "staff_never": "nunca",
    "btn_deactivate": "Desactivar a {name}",
    "staff_confirm": (
        "¿Desactivar el acceso de <b>{name}</b> ({role})?\n"
        "• {alerts}: pasan a los demás fisioterapeutas y a los administradores\n"
        "• {patients}: se le mostrarán para reasignarlos"
    ),
    "btn_confirm_deactivate": "Sí, desactivar",
    "btn_keep": "No, mantener",
    "staff_kept": "No se ha cambiado nada.",
    "staff_deactivated": (
        "<b>{name}</b> está desactivado. {alerts}: han pasado a los demás fisioterapeutas."
    ),
    "staff_patients": "Sus pacientes ({count}): toque uno para asignarle otro fisioterapeuta.",
    "staff_no_patients": "No tenía pacientes en seguimiento.",
    "staff_not_self": "No puede desactivarse a sí mismo.",
    "staff_listed_admin": (
        "Esta persona está en ADMIN_IDS, lo que la hace administradora en cada contacto. "
        "Quítela primero de ADMIN_IDS (y reinicie el bot)."
    ),
    "staff_already_inactive": "Esta persona ya está desactivada.",
    "reassign_pick": "¿Qué paciente pasa a otro fisioterapeuta?",
    "reassign_none": "No hay ningún paciente que pueda reasignar.",
    "reassign_to": "¿Quién es el nuevo fisioterapeuta de <b>{name}</b>?",
    "reassign_no_targets": (
        "No hay otro fisioterapeuta activo. Pida a un administrador que invite a uno con /invite."
    ),
    "reassign_bad_target": "Ese fisioterapeuta no puede recibir pacientes.",
    "reassign_same": "Ya es su fisioterapeuta.",
    "reassign_done": (
        "<b>{name}</b> tiene ahora a <b>{therapist}</b> como fisioterapeuta; se le ha avisado."
    ),
    "enroll_name": (
        "Registrar a un paciente. ¿Qué nombre deben usar los mensajes? (1–64 caracteres)\n"
        "/cancel para salir."
    ),
    "enroll_name_empty": "Escriba el nombre del paciente (1–64 caracteres).",
    "enroll_name_too_long": (
        "Ese nombre tiene {length} caracteres; el máximo es 64. Acórtelo, por favor."
    ),
    "enroll_no_therapists": (
        "Todavía no hay ningún fisioterapeuta registrado. Pida a un administrador que invite "
        "a uno con /invite."
    ),
    "enroll_therapist": "¿Quién es el fisioterapeuta de <b>{name}</b>?",
    "enroll_time": (
        "¿Cuándo terminó la sesión? Toque una opción o escriba la hora de hoy como HH:MM ({tz})."
    ),
    "btn_now": "Ahora mismo",
    "btn_minutes_ago": "Hace {minutes} min",
    "btn_hours_ago": "Hace {hours} h",
    "enroll_time_bad": "Escriba una hora como HH:MM (por ejemplo 14:30) o toque una opción.",
    "enroll_time_future": (
        "Las {time} es más tarde que ahora ({now}). Indique una hora que ya haya pasado."
    ),
    "enroll_regions": (
        "¿Qué zonas se han tratado? Toque todas las que correspondan y luego <b>Listo</b>."
    ),
    "btn_done": "Listo",
    "enroll_regions_none": "Seleccione al menos una zona.",
    "enroll_baseline": (
        "¿Dolor habitual antes del tratamiento, de 0 (nada) a 10 (el peor imaginable)?"
    ),
    "use_buttons": "Use los botones de arriba, o /cancel para salir.",
    "enroll_done": (
        "<b>{name}</b> queda registrado con {therapist}.\n"
        "La sesión terminó {ended} · zonas: {regions} · dolor habitual {baseline}/10.\n\n"
        "Enseñe el código QR al paciente o envíele este enlace de un solo uso "
        "(válido {hours} h):\n{link}"
    ),
    "enroll_qr_caption": "Escanee para unirse al seguimiento de {clinic}.",
    "session_pick": "¿Nueva sesión de qué paciente?",
    "session_no_patients": "Ahora mismo no hay ningún paciente en seguimiento.",
    "session_done": (
        "Sesión {number} registrada para <b>{name}</b>. Sus controles están programados; los "
        "pendientes de la sesión anterior se han sustituido."
    ),
    "session_patient_gone": "Este paciente ya no está en seguimiento.",
    "session_future": "Esa hora todavía no ha llegado.",
    "session_before_last": "No es posterior a la sesión anterior del paciente.",
    "enroll_failed": "No se ha podido registrar al paciente: {reason}. No se ha guardado nada.",
    "n_sessions.one": "{n} sesión",
    "n_sessions.other": "{n} sesiones",
    "n_open_alerts.one": "{n} alerta abierta",
    "n_open_alerts.other": "{n} alertas abiertas",
    "n_patients.one": "{n} paciente",
    "n_patients.other": "{n} pacientes",
    "n_escalations.one": "⏫ {n} escalado",
    "n_escalations.other": "⏫ {n} escalados",
    "tier_urgent": "🔴 URGENTE",
    "tier_urgent_callback": "🟠 URGENTE — devolver la llamada",
    "tier_soon": "🟡 PRONTO — revisar hoy",
    "tier_routine": "⚪ Rutina",
    "tier_word_urgent": "URGENTE",
    "tier_word_urgent_callback": "URGENTE (llamada)",
    "tier_word_soon": "PRONTO",
    "tier_word_routine": "de rutina",
    "question_Q1": "molestias",
    "question_Q2": "dolor habitual",
    "card_escalation": "⏫ <b>Escalado {level}</b>: todavía sin confirmar",
    "card_callback_overdue": "⏫ <b>Llamada pendiente</b>: no se marcó como hecha a tiempo",
    "card_resent": "🔁 <b>Reenviada</b>: sin confirmar desde {when}",
    "card_rerouted": "↪️ <b>Enviada a usted</b>: no se puede contactar con su fisioterapeuta",
    "card_earlier.one": "• … {n} línea anterior: toque Historial",
    "card_earlier.other": "• … {n} líneas anteriores: toque Historial",
    "card_rating": "{question} {value} ({when})",
    "card_last_ratings": "Últimas puntuaciones: {ratings}",
    "card_raised": "Abierta {when}",
    "card_seen": "{raised} · vista ×{count}",
    "card_acknowledged": "✅ <b>Confirmada por {name} a las {when}</b>",
    "card_called_back": "📞 <b>Llamada hecha por {name}, {when}</b>",
    "card_superseded": "⏭ <b>Sustituida</b>: se envió una alerta más reciente de este paciente",
    "btn_acknowledge": "Confirmar",
    "btn_history": "Historial",
    "btn_call_back_done": "Llamada hecha",
    "notice_new": "➕ <b>Novedad de {name}</b> (#{patient_id}) · {tier}",
    "notice_same": "El mismo hallazgo otra vez",
    "notice_updated": "La alerta de arriba se ha actualizado.",
    "after_session": "{span} después de la sesión {session}",
    "reason_pain_Q1": "Molestias en la zona de punción {value}/10 {after}",
    "reason_pain_Q2": "Dolor {value}/10 {after}, {diff} por encima de su habitual {baseline}",
    "reason_pain_Q2_not_above": "Dolor {value}/10 {after} (su habitual: {baseline})",
    "reason_exercise_painful": "Ejercicio en casa demasiado doloroso: {exercises}",
    "reason_exercise_painful_repeated.one": (
        "{exercise} demasiado doloroso {n} día de {window}: revise el ejercicio"
    ),
    "reason_exercise_painful_repeated.other": (
        "{exercise} demasiado doloroso {n} días de {window}: revise el ejercicio"
    ),
    "reason_q1_not_falling": (
        "Molestias en la zona de punción {value}/10 {after}, no menos que el día anterior "
        "({before}/10)"
    ),
    "reason_q1_after_24": (
        "Molestias en la zona de punción {value}/10 {after} ({before}/10 el día anterior)"
    ),
    "reason_q1_no_24": (
        "Molestias en la zona de punción {value}/10 {after} (sin respuesta el día anterior)"
    ),
    "reason_q5_chest_trunk": (
        "Dolor en el pecho, dolor al respirar hondo, falta de aire o tos seca nueva {after}; "
        "se trató el tronco en la sesión {trunk}, {since} antes"
    ),
    "reason_q5_chest": (
        "Dolor en el pecho, dolor al respirar hondo, falta de aire o tos seca nueva {after}; "
        "sin punción en el tronco en el plazo de {window} (se le mostró el texto de urgencia)"
    ),
    "reason_q6_cauda_equina": (
        "Posibles signos de cola de caballo (adormecimiento alrededor de los genitales o del "
        "ano, cambios en la vejiga o el intestino, o síntomas en ambas piernas) {after}"
    ),
    "reason_leg_weakness": (
        "Debilidad nueva en la pierna, o el pie se arrastra o se engancha al caminar, {after}"
    ),
    "reason_fainted": "Se desmayó después de salir de la clínica, {after}",
    "reason_bleeding": "Sangrado en una zona de punción que no se detiene, {after}",
    "reason_fever_spreading_redness": (
        "Fiebre o escalofríos {after} con enrojecimiento o calor que se extiende en una zona "
        "de punción {site_after}"
    ),
    "reason_fever_site_swelling": (
        "Fiebre o escalofríos {after} con hinchazón o pus en una zona de punción {site_after}"
    ),
    "reason_site_swelling": "Hinchazón o pus en una zona de punción {after}, sin fiebre",
    "reason_site_redness": (
        "Enrojecimiento o calor que se extiende en una zona de punción {after}, sin fiebre"
    ),
    "reason_fever": (
        "Fiebre o escalofríos {after}, sin enrojecimiento, hinchazón ni pus en las zonas de punción"
    ),
    "reason_felt_faint": (
        "Sensación de mareo {after} (ya ha pasado); se le aconsejó tumbarse y no conducir"
    ),
    "reason_numbness": "Adormecimiento u hormigueo nuevo {after}",
    "reason_numbness_twice": "Adormecimiento u hormigueo nuevo {first} y otra vez {after}",
    "reason_missed.one": (
        "Sin respuesta a {n} control seguido después de una sesión, con un recordatorio"
    ),
    "reason_missed.other": (
        "Sin respuesta a {n} controles seguidos después de una sesión, con un recordatorio cada uno"
    ),
    "reason_patient_message": "Pidió hablar con usted y le envió un mensaje con sus palabras",
    "reason_words": "{reason}: «{words}»",
    "reason_late": "{reason} (marcado tarde, en un control ya cerrado)",
    "reason_changed": "{reason} (cambiado con un segundo toque, tras una respuesta más tranquila)",
    "reason_low_adherence": (
        "Ejercicios hechos en menos del {percent} de los {planned} días previstos, "
        "{weeks} semanas seguidas ({detail})"
    ),
    "reason_week": "semana del {day}: {done}/{planned}",
    "no_open_alerts": "No hay alertas abiertas. 🎉",
    "alerts_header": "<b>Alertas abiertas</b> ({count}) · página {page} de {pages}",
    "alerts_line": "{number}. {tier} <b>{name}</b> · {reason} · {age}",
    "alerts_more_reasons": "{reason} (+{more})",
    "btn_open": "{number}. {name}",
    "btn_ack_number": "✅ {number}",
    "btn_previous": "« Anterior",
    "btn_next": "Siguiente »",
    "open_private_chat": (
        "Abra primero un chat privado con el bot: t.me/{bot} (toque Iniciar) y vuelva a "
        "tocar el botón."
    ),
    "already_acknowledged": "Ya la confirmó {name}.",
    "already_called_back": "{name} ya registró la llamada.",
    "someone": "otra persona",
    "acknowledged_done": "Confirmada ✓",
    "called_back_done": "Llamada registrada ✓",
    "csv_caption.one": "{n} respuesta, CSV.",
    "csv_caption.other": "{n} respuestas, CSV.",
    "fhir_caption": "Las mismas respuestas como Bundle FHIR R4 de Observations.",
    "patients_header": "<b>Sus pacientes</b> ({count})",
    "patients_pick": "¿Qué paciente?",
    "patients_none": "No hay pacientes en seguimiento.",
    "patient_line": (
        "• <b>{name}</b> (#{id}): dolor {last}/10 {trend} (habitual {baseline}) · {sessions}"
    ),
    "patient_line_alerts": "{line} · ⚠️ {alerts}",
    "card_head": "<b>{name}</b> (#{id}) · dolor habitual {baseline}/10 · {sessions}",
    "card_answered": "Controles respondidos: {answered}/{sent}",
    "card_exercise_days": "Días de ejercicio por semana: {days}",
    "card_not_reported": "aún sin datos",
    "card_none_yet": "todavía ninguna",
    "digest_header": "<b>Resumen diario</b> · {date}",
    "digest_waiting": "⚠️ Alerta {tier} sin confirmar desde hace {age}: {reasons}",
    "digest_missed.one": "{n} control sin responder ayer",
    "digest_missed.other": "{n} controles sin responder ayer",
    "digest_more": "…y {count} más: vea /alerts y /patients",
    "reason_no_progress_reading": (
        "Sin una puntuación semanal de dolor habitual para valorar la evolución en la sesión "
        "{sessions}: pídala"
    ),
    "reason_reevaluate": (
        "Dolor habitual {last}/10 tras {sessions_n}, inicial {baseline}: revalorar el "
        "diagnóstico y el plan"
    ),
    "reason_stall": (
        "Sin mejoría tras {sessions_n} (dolor habitual {last}/10, inicial {baseline}): "
        "revisar el plan"
    ),
    "reason_plateau": "Dolor habitual {values} en las últimas puntuaciones semanales: ya no mejora",
    "reason_recovered": (
        "Dolor habitual {last}/10 (inicial {baseline}) tras {sessions_n}: valorar espaciar las "
        "sesiones o el alta"
    ),
    "reason_adherence_not_reported": "Días de ejercicio sin comunicar {weeks} semanas seguidas",
    "audit_header": "<b>Últimos eventos de auditoría</b>",
    "audit_none": "Nada todavía.",
    # the patient card's adherence from the exercise logs (issue 15 step 6)
    "card_adherence_header": "<b>Ejercicios en casa</b>, días hechos/previstos (7 d · 28 d):",
    "card_adherence_line": "• {name}: {done7}/{planned7} · {done28}/{planned28}",
    "card_adherence_none": "<b>Ejercicios en casa:</b> nada registrado aún",
}


def lang_of(language_code: str | None) -> str:
    """Telegram's language_code ("es-MX") → one of our languages (default English)."""
    if language_code:
        base = language_code.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return "en"


def t(key: str, lang: str = "en", /, **values: Any) -> str:
    """The text `key` in `lang` (falling back to English) with values HTML-escaped.

    Values wrapped in `Raw` are trusted HTML made by this module (e.g. a nested
    text already rendered by `t`).
    """
    template = (_ES if lang == "es" else _EN).get(key) or _EN[key]
    safe = {k: (v.html if isinstance(v, Raw) else html.quote(str(v))) for k, v in values.items()}
    return template.format(**safe)


def toast(key: str, lang: str = "en", /, **values: Any) -> str:
    """The text `key` for a place that shows plain text, not HTML (a callback query's
    toast or alert box): the same words as `t`, its tags dropped and its entities read,
    so a clinic called "Río & Mar" does not show as "Río &amp; Mar"."""
    return unescape(re.sub(r"<[^>]+>", "", t(key, lang, **values)))


def clinic_of(name: str, lang: str) -> str:
    """The clinic as patients read it: its CLINIC_NAME, or "the clinic" in their language
    when none is set (never an English default inside a Spanish sentence). Templates put
    it inside a sentence, never first, so a lower-case name ("physio+") reads right."""
    return name or t("clinic_unnamed", lang)


def safety_line(lang: str, emergency: str, phone: str | None) -> str:
    """Not an emergency service + the emergency number + how to reach the clinic."""
    line = t("safety", lang, emergency=emergency)
    if phone:
        line += "\n" + t("clinic_contact", lang, phone=phone)
    return line


class Raw:
    """A fragment that is already valid Telegram HTML (produced by `t`)."""

    __slots__ = ("html",)

    def __init__(self, fragment: str) -> None:
        self.html = fragment
