// The page registry. A page is a module exporting `mount(root, params, ctx)` which renders into
// `root` and returns `{unmount()}` (optionally async); `ctx.features` says which optional APIs the
// server has (`parallel: true` pages get `ctx.featuresPromise` instead and await it alongside their
// own first requests). To add a page (treatment, imaging, ...),
// write js/pages/<id>.js and change its entry here: `soon: true` pages show a placeholder.

export const PAGES = [
  { id: "ward", label: "Ward", nav: true, parallel: true, load: () => import("./ward.js") },
  { id: "alarms", label: "Alarms", nav: true, load: () => import("./alarms.js") },
  { id: "map", label: "Map", nav: true, load: () => import("./map.js") },
  { id: "treatment", label: "Treatment", nav: true, load: () => import("./treatment.js") },
  { id: "imaging", label: "Imaging", nav: true, load: () => import("./imaging.js") },
  { id: "training", label: "Training", nav: true, load: () => import("./training.js") },
  { id: "operations", label: "Operations", nav: true, load: () => import("./operations.js") },
  { id: "evacuation", label: "Evacuation", nav: true, load: () => import("./evacuation.js") },
  { id: "remote", label: "Remote care", nav: true, load: () => import("./remote.js") },
  { id: "patient", nav: false, load: () => import("./patient.js") },
  { id: "login", nav: false, public: true, load: () => import("./login.js") },
];

export const DEFAULT_PAGE = "ward";
