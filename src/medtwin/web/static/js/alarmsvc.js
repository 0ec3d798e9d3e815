// Alarm actions shared by the patient page and the alarm list: acknowledge, pause (audio, 2 min) and
// escalate. The server answers with the updated alarm and also broadcasts it on the live feeds.

import { api } from "./api.js";
import { auth } from "./auth.js";
import { fmtAge, h, ageSeconds } from "./format.js";
import { errorText, toast } from "./ui.js";

export const PAUSE_SECONDS = 120;

export async function alarmAction(alarm, action) {
  const body = { by: auth.actor() };
  if (action === "pause") body.seconds = PAUSE_SECONDS;
  return api(`/api/alarms/${encodeURIComponent(alarm.id)}/${action}`, { method: "POST", body });
}

const LABELS = {
  acknowledge: "Acknowledge",
  pause: "Pause 2 min",
  escalate: "Escalate",
};

function enabled(alarm, action) {
  if (alarm.state === "resolved") return false;
  if (action === "acknowledge") return alarm.state === "active";
  if (action === "pause") return alarm.state === "active" || alarm.state === "acknowledged";
  return true;
}

/** Buttons for one alarm; `onDone(updatedAlarm)` after the server accepted the action. */
export function actionButtons(alarm, context, onDone) {
  return ["acknowledge", "pause", "escalate"].map((action) =>
    h(
      `button.btn.btn-sm${action === "acknowledge" ? ".btn-primary" : ""}`,
      {
        type: "button",
        "data-action": action,
        "data-alarm": alarm.id,
        disabled: !enabled(alarm, action),
        "aria-label": `${LABELS[action]}: ${alarm.priority} priority alarm, ${alarm.message || alarm.condition}${context ? `, ${context}` : ""}`,
        onclick: async (ev) => {
          const btn = ev.currentTarget;
          btn.disabled = true;
          try {
            const updated = await alarmAction(alarm, action);
            toast(`${LABELS[action]}: ${alarm.message || alarm.condition}`, "ok", 3000);
            window.dispatchEvent(new Event("medtwin:alarm"));
            onDone(updated && updated.id ? updated : { ...alarm });
          } catch (e) {
            toast(`Could not ${action} the alarm: ${errorText(e)}`, "error");
            btn.disabled = false;
          }
        },
      },
      LABELS[action],
    ),
  );
}

export function stateText(a) {
  let s = a.state;
  if (a.state === "acknowledged" && a.acknowledged_by) s += ` by ${a.acknowledged_by}`;
  if (a.state === "paused" && a.paused_until) s += ` until ${new Date(a.paused_until).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  if (a.latched && a.state !== "resolved" && a.condition_active === false) s += " (latched)";
  return s;
}

export function escalationText(a) {
  if (!a.escalation_level) return "—";
  const to = (a.escalated_to || []).join(", ");
  return `Level ${a.escalation_level}${to ? ` → ${to}` : ""}`;
}

export function ageText(a) {
  return fmtAge(ageSeconds(a.started));
}
