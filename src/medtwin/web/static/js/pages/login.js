// Sign-in screen. With the security service: staff id + password -> JWT (the account decides the
// role; too many attempts answer 429 with the wait). Without it: the staff id
// (recorded as "by" on acknowledgements and charting), display name and role are kept locally.

import { api } from "../api.js";
import { ROLES, auth } from "../auth.js";
import { h } from "../format.js";

export async function mount(root, _params, ctx) {
  const server = ctx.features.login;
  let staff = [];
  if (!server) {
    try {
      staff = await api("/api/twins", { query: { kind: "staff" } });
    } catch {
      staff = [];
    }
  }
  const err = h("p.field-error", { id: "login-error", role: "alert" });
  const id = h("input#login-id", {
    name: "staff_id",
    autocomplete: "username",
    required: true,
    maxlength: 64,
    spellcheck: "false",
    autocapitalize: "off",
    list: staff.length ? "login-staff" : null,
    value: auth.user?.id || "",
    "aria-describedby": "login-id-hint login-error",
  });
  const name = h("input#login-name", { name: "name", autocomplete: "name", maxlength: 80, value: auth.user?.name || "" });
  const role = h(
    "select#login-role",
    { name: "role" },
    ROLES.map(([v, label]) => h("option", { value: v, selected: auth.user?.role === v }, label)),
  );
  // choosing a known staff member fills in the name and role (unless chosen by hand)
  let roleChosen = false;
  role.addEventListener("change", () => {
    roleChosen = true;
  });
  id.addEventListener("change", () => {
    const s = staff.find((t) => t.id === id.value.trim());
    if (!s) return;
    if (!name.value) name.value = s.name || "";
    const r = s.attributes?.role;
    if (!roleChosen && r && ROLES.some(([v]) => v === r)) role.value = r;
  });
  const password = server
    ? h("input#login-password", { type: "password", name: "password", autocomplete: "current-password", required: true })
    : null;
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        id.removeAttribute("aria-invalid");
        try {
          const s = staff.find((t) => t.id === id.value.trim());
          await auth.login(
            { id: id.value, name: name.value || s?.name || "", role: server ? undefined : role.value, password: password?.value },
            server,
          );
          const back = sessionStorage.getItem("medtwin.after-login");
          sessionStorage.removeItem("medtwin.after-login");
          ctx.navigate(back && !back.startsWith("#/login") ? back : "#/ward");
        } catch (e) {
          err.textContent = e.message;
          id.setAttribute("aria-invalid", "true");
          (server && id.value ? password : id).focus();
        }
      },
    },
    h(
      "div.field",
      null,
      h("label", { for: "login-id" }, "Staff id"),
      id,
      h("span.hint#login-id-hint", null, "As on your badge, e.g. ICU-nurse-1; recorded on acknowledgements and charting."),
    ),
    staff.length
      ? h(
          "datalist#login-staff",
          null,
          staff.map((t) => h("option", { value: t.id }, `${t.name || t.id}`)),
        )
      : null,
    server ? null : h("div.field", null, h("label", { for: "login-name" }, "Display name (optional)"), name),
    server ? null : h("div.field", null, h("label", { for: "login-role" }, "Role"), role), // the account decides
    password ? h("div.field", null, h("label", { for: "login-password" }, "Password"), password) : null,
    err,
    h("div.form-actions", null, h("button.btn.btn-primary", { type: "submit" }, "Sign in")),
    h(
      "p.note",
      null,
      server
        ? "Signed in through this medtwin server. Patient names are shown or pseudonymised according to your role."
        : "This server has no sign-in service yet: who you are is kept in this browser only and nothing is checked. " +
            "Roles that may not see names (trainee, researcher) get pseudonyms from the server once the security service is installed.",
    ),
  );
  root.append(h("section.login", { "aria-labelledby": "login-title" }, h("h1#login-title", null, "Sign in to medtwin"), form));
  id.focus();
  return { unmount() {}, keepFocus: true };
}
