// 3D organ view: a GLB from /api/twins/{id}/imaging/segmentations/{seg}/mesh.glb in three.js,
// orbit controls, click-to-place a resection point, and the plane drawn as a translucent disc.
// glTF axes (medtwin.models.imaging.mesh): x = L, y = S, z = A (mm); LPS = (x, -z, y).

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { GLTFLoader } from "/static/vendor/three/GLTFLoader.min.js";

export const glToLps = (v) => [v.x, -v.z, v.y];
export const lpsToGl = (p) => new THREE.Vector3(p[0], p[2], -p[1]);

export function createViewer(container, { onPick } = {}) {
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
  container.append(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x0b0f14);
  const camera = new THREE.PerspectiveCamera(40, 1, 1, 5000);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x333344, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  sun.position.set(200, 300, 400);
  scene.add(sun);
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.enableDamping = true;
  let model = null;
  let plane = null;
  let marker = null;
  let frame = 0;
  const ray = new THREE.Raycaster();

  function resize() {
    const w = container.clientWidth || 400;
    const h = container.clientHeight || 400;
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
  }
  const ro = new ResizeObserver(resize);
  ro.observe(container);
  resize();
  (function loop() {
    frame = requestAnimationFrame(loop);
    controls.update();
    renderer.render(scene, camera);
  })();

  renderer.domElement.addEventListener("dblclick", (ev) => {
    if (!model || !onPick) return;
    const r = renderer.domElement.getBoundingClientRect();
    const ndc = new THREE.Vector2(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
    ray.setFromCamera(ndc, camera);
    const hit = ray.intersectObject(model, true)[0];
    if (hit) onPick(glToLps(hit.point), hit.object.name);
  });

  return {
    async load(buffer) {
      const gltf = await new GLTFLoader().parseAsync(buffer, "");
      if (model) scene.remove(model);
      model = gltf.scene;
      scene.add(model);
      const box = new THREE.Box3().setFromObject(model);
      const size = box.getSize(new THREE.Vector3()).length() || 100;
      const centre = box.getCenter(new THREE.Vector3());
      controls.target.copy(centre);
      camera.position.copy(centre).add(new THREE.Vector3(0, size * 0.15, size * 1.2)); // from the front (anterior)
      camera.near = size / 100;
      camera.far = size * 20;
      camera.updateProjectionMatrix();
      const names = [];
      model.traverse((o) => { if (o.isMesh) names.push(o.name); });
      return { names, size };
    },
    showPlane(pointLps, normalLps, size = 200) {
      if (plane) scene.remove(plane);
      if (marker) scene.remove(marker);
      const n = lpsToGl(normalLps).normalize();
      const p = lpsToGl(pointLps);
      plane = new THREE.Mesh(
        new THREE.CircleGeometry(size / 2, 48),
        new THREE.MeshBasicMaterial({ color: 0x4fc3f7, transparent: true, opacity: 0.35, side: THREE.DoubleSide, depthWrite: false }),
      );
      plane.position.copy(p);
      plane.quaternion.setFromUnitVectors(new THREE.Vector3(0, 0, 1), n);
      marker = new THREE.Mesh(new THREE.SphereGeometry(size / 80), new THREE.MeshBasicMaterial({ color: 0xffeb3b }));
      marker.position.copy(p);
      scene.add(plane, marker);
    },
    dispose() {
      cancelAnimationFrame(frame);
      ro.disconnect();
      controls.dispose();
      renderer.dispose();
      renderer.domElement.remove();
    },
  };
}
