// Pages that later issues fill in. Each keeps its place in the navigation so the layout is stable.

import { h } from "../format.js";
import { setTitle } from "../ui.js";

const ABOUT = {
  treatment: [
    "Treatment simulation",
    "Try several drugs or doses on the patient's own calibrated replica before prescribing (pharmacokinetics and pharmacodynamics, glucose–insulin), with the expected effect and adverse-effect risk.",
  ],
  imaging: [
    "Imaging and surgery planning",
    "CT, MR and ultrasound series in the twin; organs and lesions in 3D (three.js is bundled for this page); transplanted-organ and tumour tracking over time; resection planes and remnant volumes.",
  ],
  training: [
    "Training",
    "Virtual patients cloned from de-identified real cases: trainees diagnose and treat, the virtual patient responds through the same models, and the result is scored against the real outcome.",
  ],
  operations: [
    "Hospital operations",
    "Patient-journey logs mined for delays and wasted movement; staff, room and layout changes simulated before they are made.",
  ],
  evacuation: [
    "Safe evacuation",
    "Fire, outbreak and gas-leak scenarios on a replica of the building, with every patient's mobility class, hazard spread, exits and staff; plans and drills (3D view with three.js).",
  ],
  remote: [
    "Remote care",
    "Chronic patients at home or in nursing homes on wearables, cuffs and glucometers, triaged into emergency care, primary clinic, or 'current medication suffices', with reasons.",
  ],
};

export function mount(root, _params, ctx) {
  const [title, text] = ABOUT[ctx.page.id] || [ctx.page.label, ""];
  setTitle(title);
  root.append(
    h(
      "div.placeholder",
      null,
      h("h1", null, title),
      h("section.panel", null, h("p", null, text), h("p", null, "This page is planned; it plugs into this navigation when its service is installed.")),
    ),
  );
  return { unmount() {} };
}
