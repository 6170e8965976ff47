"""Draws the synthetic athlete with OpenCV: a shaded, clothed figure in a room, on a box and mat.

Every limb is a tapered capsule shaded like a lit cylinder (a dark base, a lit band toward the
light, a highlight), the trunk and pelvis are outlined polygons in the trunk's own plane, the
head an ellipse with hair and a face hint. Parts are sorted by depth (painter's algorithm) in
limb groups, so clothing sits on its limb. Points are drawn with 4 bits of sub-pixel precision
and anti-aliased edges, so the drawn joint is where the truth says it is to a fraction of a pixel.
The static room (wall, floor, box, mat) is drawn once per clip; per frame only the people,
their shadows, motion blur (sub-frames over the exposure), light and sensor noise are added.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from kiosk.synth.body import RGB, Body, Look
from kiosk.synth.camera import Camera, yaw_matrix
from kiosk.synth.motion import BOX_FRONT_Z, Pose3D

SHIFT = 4
SCALE = 1 << SHIFT
AA = cv2.LINE_AA
#: Crotch below the hip joint centres, as a fraction of body height (anthropometric tables:
#: trochanteric height ~0.52 H, crotch height ~0.47 H).
CROTCH = 0.047


def _pts(uv: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(uv) * SCALE).astype(np.int32)


def _tone(c: RGB, k: float, add: float = 0.0) -> tuple[int, int, int]:
    return (min(255, max(0, int(c[0] * k + add))), min(255, max(0, int(c[1] * k + add))), min(255, max(0, int(c[2] * k + add))))


_ARC_N = 7
_ARC_A = np.stack([np.cos(a := np.linspace(math.pi / 2, 3 * math.pi / 2, _ARC_N + 1)), np.sin(a)], -1)
_ARC_B = -_ARC_A


def capsule_outline(a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    """Polygon (16, 2) of a tapered capsule from a (radius ra) to b (radius rb), image pixels."""
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    length = math.hypot(dx, dy)
    c, s = (dx / length, dy / length) if length > 1e-6 else (1.0, 0.0)
    rot = np.array([[c, s], [-s, c]])  # row vectors @ rot rotates by the segment angle
    return np.concatenate([a + ra * (_ARC_A @ rot), b + rb * (_ARC_B @ rot)])


class Painter:
    """Shaded primitives on one RGB image; ``light`` is the 2D unit vector toward the light."""

    def __init__(self, img: np.ndarray, light: np.ndarray):
        self.img = img
        self.light = light

    def capsule(self, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour: RGB, shade: bool = True) -> None:
        img = self.img
        cv2.fillConvexPoly(img, _pts(capsule_outline(a, b, ra, rb)), _tone(colour, 0.7 if shade else 1.0), AA, SHIFT)
        if not shade or max(ra, rb) < 1.2:
            return
        d = b - a
        n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
        k = float(n @ self.light)  # lit side of the cylinder
        off = n * k
        cv2.fillConvexPoly(img, _pts(capsule_outline(a + off * 0.22 * ra, b + off * 0.22 * rb, 0.74 * ra, 0.74 * rb)),
                           _tone(colour, 0.9), AA, SHIFT)
        cv2.fillConvexPoly(img, _pts(capsule_outline(a + off * 0.45 * ra, b + off * 0.45 * rb, 0.34 * ra, 0.34 * rb)),
                           _tone(colour, 1.08, 8), AA, SHIFT)

    def polygon(self, pts: np.ndarray, colour: RGB, shade: bool = True) -> None:
        img = self.img
        cv2.fillPoly(img, [_pts(pts)], _tone(colour, 0.66 if shade else 1.0), AA, SHIFT)
        if not shade:
            return
        c = pts.mean(axis=0)
        size = float(np.ptp(pts[:, 0]) + np.ptp(pts[:, 1])) / 2
        inner = c + (pts - c) * 0.82 + self.light * 0.06 * size
        cv2.fillPoly(img, [_pts(inner)], _tone(colour, 0.92), AA, SHIFT)
        inner2 = c + (pts - c) * 0.45 + self.light * 0.16 * size
        cv2.fillPoly(img, [_pts(inner2)], _tone(colour, 1.04, 5), AA, SHIFT)

    def ellipse(self, centre: np.ndarray, axes: tuple[float, float], angle_deg: float, colour: RGB,
                start: float = 0, end: float = 360) -> None:
        cv2.ellipse(self.img, tuple(int(v) for v in _pts(centre)), (max(1, int(axes[0] * SCALE)), max(1, int(axes[1] * SCALE))),
                    angle_deg, start, end, colour, -1, AA, SHIFT)


class PersonDrawer:
    """Draws one posed body (athlete or passer-by) at one instant."""

    def __init__(self, body: Body, look: Look, camera: Camera, *, athlete: bool = True,
                 skin: RGB | None = None, shirt: RGB | None = None, bottoms: RGB | None = None, face: bool | None = None):
        self.b, self.look, self.cam, self.athlete = body, look, camera, athlete
        self.face = athlete if face is None else face
        self.skin = skin or look.skin
        self.shirt = shirt or look.shirt
        self.bottoms = bottoms or look.bottoms

    def draw(self, painter: Painter, pose: Pose3D, i: int) -> None:
        b, cam, look = self.b, self.cam, self.look
        P = {k: v[i] for k, v in pose.items()}
        names = [k for k in P if not k.startswith(("trunk_", "head_"))]
        world = np.stack([P[k] for k in names])
        uv_all, z_all = cam.project(world, athlete=self.athlete)
        uv = dict(zip(names, uv_all, strict=True))
        z = dict(zip(names, z_all, strict=True))

        def px(radius_m: float, at: str) -> float:
            return cam.f * radius_m / z[at]

        def proj(points: np.ndarray) -> np.ndarray:
            return cam.project(points, athlete=self.athlete)[0]

        up, lat = P["trunk_up"], P["trunk_lat"]
        pelvis = P["pelvis"]
        h = b.height
        groups: list[tuple[float, Callable[[], None]]] = []

        # --- core: legs (far one first), then shorts over the thigh tops, then the shirt ----------
        def leg(s: str) -> None:
            hip, knee, ankle = uv[f"{s}_hip"], uv[f"{s}_knee"], uv[f"{s}_ankle"]
            legging = look.bottoms_kind == "leggings"
            skin_or = self.bottoms if legging else self.skin
            r_th, r_kn = px(b.thigh_r, f"{s}_hip"), px(b.knee_r, f"{s}_knee")
            r_calf, r_an = px(b.calf_r, f"{s}_knee"), px(b.ankle_r, f"{s}_ankle")
            calf = knee + (ankle - knee) * 0.3
            painter.capsule(knee, ankle, r_kn * 0.95, r_an, skin_or)
            painter.capsule(knee, calf, r_kn, r_calf, skin_or)
            painter.capsule(calf, ankle + (calf - ankle) * 0.2, r_calf, r_an * 1.05, skin_or)
            mid = hip + (knee - hip) * 0.55  # the thigh keeps its bulk, then tapers to the knee
            painter.capsule(mid, knee, r_th * 0.86, r_kn, skin_or)
            painter.capsule(hip, mid, r_th, r_th * 0.86, skin_or)
            sock_top = ankle + (knee - ankle) * 0.14
            painter.capsule(sock_top, ankle, r_an * 1.12, r_an * 1.15, look.socks)
            heel, toe = uv[f"{s}_heel"], uv[f"{s}_toe"]
            r_shoe = px(0.45 * b.ankle_h, f"{s}_ankle")
            painter.capsule(heel, toe, r_shoe * 1.05, r_shoe * 0.95, look.soles, shade=False)
            lift = np.array([0.0, -0.28 * r_shoe])
            painter.capsule(heel + lift, toe + lift, r_shoe * 0.95, r_shoe * 0.8, look.shoes)
            # the shoe's collar sits just below the malleoli, where an annotator puts the ankle
            collar = ankle + (heel - ankle) * 0.55 + (toe - ankle) * 0.12
            painter.capsule(collar, toe + (ankle - toe) * 0.35, r_an * 1.2, r_shoe * 0.85, look.shoes)

        def shorts() -> None:
            legging = look.bottoms_kind == "leggings"
            length = 0.12 if legging else look.shorts_len
            side_pts = {}
            for s, other in (("left", "right"), ("right", "left")):
                hip, knee = uv[f"{s}_hip"], uv[f"{s}_knee"]
                d = knee - hip
                n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
                n *= np.sign(n @ (hip - uv[f"{other}_hip"])) or 1.0
                r = px(b.thigh_r, f"{s}_hip") * 1.07
                opening = hip + d * length
                sg = 1.0 if s == "left" else -1.0
                waist, hip_out = proj(np.array([pelvis + lat * sg * b.waist_half * 1.04 + up * 0.10 * h,
                                                pelvis + lat * sg * b.hip_out_half]))
                side_pts[s] = [waist, hip_out, opening + n * r, opening - n * r * 0.95]
            # The crotch sits ~4-5% of body height below the hip joint centres (crotch height ~0.47 H,
            # greater trochanter ~0.52 H): drawn lower, the legs part lower and MoveNet puts the
            # hips 10-20 px below the joint centres on long shorts.
            crotch = list(proj(np.array([pelvis - up * CROTCH * h + lat * 0.008 * h, pelvis - up * CROTCH * h - lat * 0.008 * h])))
            pts = side_pts["left"] + crotch + side_pts["right"][::-1]
            painter.polygon(np.array(pts), self.bottoms)

        def shirt() -> None:
            sh_w = b.shoulder_half + 0.6 * b.upper_arm_r
            half = [pelvis + lat * b.hip_out_half * 0.97 + up * 0.035 * h, pelvis + lat * b.waist_half + up * 0.14 * h,
                    pelvis + lat * b.chest_half + up * (b.trunk - 0.075 * h), pelvis + lat * sh_w + up * (b.trunk - 0.02 * h),
                    pelvis + lat * (sh_w - 0.02 * h) + up * (b.trunk + 0.008 * h), pelvis + lat * 0.03 * h + up * (b.trunk + 0.022 * h)]
            outline = half + [q - 2 * lat * ((q - pelvis) @ lat) for q in reversed(half)]
            painter.polygon(proj(np.array(outline)), self.shirt)

        def core() -> None:
            for s in sorted(("left", "right"), key=lambda s: -(z[f"{s}_knee"] + z[f"{s}_ankle"])):
                leg(s)
            shorts()
            shirt()

        groups.append((float((z["pelvis"] + z["neck"]) / 2) + 0.04, core))

        # --- arms -------------------------------------------------------------------------------
        for s in ("left", "right"):
            def arm(s: str = s) -> None:
                sh, el, wr, hand = uv[f"{s}_shoulder"], uv[f"{s}_elbow"], uv[f"{s}_wrist"], uv[f"{s}_hand"]
                r_ua, r_el, r_wr = px(b.upper_arm_r, f"{s}_shoulder"), px(b.elbow_r, f"{s}_elbow"), px(b.wrist_r, f"{s}_wrist")
                long_sleeve = look.sleeves == "long"
                painter.capsule(el, wr, r_el, r_wr, self.shirt if long_sleeve else self.skin)
                painter.capsule(sh, el, r_ua * 1.05, r_el, self.shirt if long_sleeve else self.skin)
                if look.sleeves == "short":
                    painter.capsule(sh, sh + (el - sh) * 0.42, r_ua * 1.3, r_ua * 1.15, self.shirt)
                painter.capsule(wr, hand, r_wr * 1.1, r_wr * 1.25, self.skin)

            groups.append((float(z[f"{s}_elbow"] + z[f"{s}_shoulder"]) / 2 - 0.01, arm))

        # --- head -------------------------------------------------------------------------------
        def head() -> None:
            r = px(b.head_r, "nose")
            centre = proj(P["head"][None])[0]
            top = proj((P["head"] + P["head_up"] * b.head_r)[None])[0]
            tilt = math.degrees(math.atan2(top[0] - centre[0], centre[1] - top[1]))
            painter.capsule(proj((P["neck"] - up * 0.03 * h)[None])[0], centre, px(0.032 * h, "nose"), px(0.03 * h, "nose"), self.skin)
            if look.hair_style == "long":
                painter.capsule(centre, centre + (proj((P["head"] - P["head_up"] * 1.9 * b.head_r)[None])[0] - centre),
                                r * 0.85, r * 0.75, look.hair, shade=False)
            facing = float(P["head_fwd"] @ (cam.position - P["head"])) > 0 if self.athlete else True
            for s in ("left", "right"):
                if z[f"{s}_ear"] > z["nose"]:
                    painter.ellipse(uv[f"{s}_ear"], (r * 0.16, r * 0.26), tilt, _tone(self.skin, 0.85))
            painter.ellipse(centre, (r * 0.8, r), tilt, _tone(self.skin, 0.93))
            painter.ellipse(centre + painter.light * r * 0.15, (r * 0.55, r * 0.75), tilt, _tone(self.skin, 1.02, 4))
            if look.hair_style != "none":
                painter.ellipse(centre, (r * 0.84, r * 1.04), tilt, look.hair, 180, 360)
                if look.hair_style == "bun":
                    painter.ellipse(top + (top - centre) * 0.1, (r * 0.32, r * 0.28), tilt, look.hair)
            if facing and self.face:
                dark = _tone(self.skin, 0.45)
                for s in ("left", "right"):
                    painter.ellipse(uv[f"{s}_eye"], (max(r * 0.1, 0.8), max(r * 0.06, 0.6)), tilt, (40, 30, 30))
                    painter.ellipse(uv[f"{s}_eye"] + (top - centre) * 0.18, (r * 0.14, max(r * 0.03, 0.5)), tilt, look.hair)
                painter.ellipse(uv["nose"], (max(r * 0.07, 0.6), max(r * 0.1, 0.8)), tilt, _tone(self.skin, 0.8))
                mouth = uv["nose"] + (centre - top) * 0.35
                painter.ellipse(mouth, (r * 0.2, max(r * 0.04, 0.5)), tilt, dark)
            for s in ("left", "right"):
                if z[f"{s}_ear"] <= z["nose"]:
                    painter.ellipse(uv[f"{s}_ear"], (r * 0.16, r * 0.26), tilt, _tone(self.skin, 0.85))

        groups.append((float(z["nose"]) - 0.02, head))

        for _, fn in sorted(groups, key=lambda g: -g[0]):
            fn()


class Room:
    """The static background of a clip: wall, floor, wall items, box and mat, with vignetting."""

    def __init__(self, camera: Camera, look: Look, box_height: float, rng: np.random.Generator, *, box: bool = True):
        self.cam, self.look = camera, look
        w, h = camera.width, camera.height
        img = np.empty((h, w, 3), np.uint8)
        img[:] = look.wall
        wall_z = -3.0
        far = 12.0
        floor = np.array([[-far, 0, wall_z], [far, 0, wall_z], [far, 0, camera.position[2] - 0.3], [-far, 0, camera.position[2] - 0.3]])
        p = Painter(img, np.array([0.0, -1.0]))
        fl, _ = camera.project(floor, athlete=False)
        cv2.fillPoly(img, [_pts(fl)], look.floor, AA, SHIFT)
        # floor boards / tiles: lines converging to the vanishing point
        for x in np.linspace(-6, 6, int(rng.integers(8, 26))):
            seg, _ = camera.project(np.array([[x, 0, wall_z], [x, 0, camera.position[2] - 0.3]]), athlete=False)
            cv2.line(img, tuple(_pts(seg[0])), tuple(_pts(seg[1])), _tone(look.floor, 0.9), 1, AA, SHIFT)
        skirting = np.array([[-far, 0.0, wall_z], [far, 0.0, wall_z], [far, 0.1, wall_z], [-far, 0.1, wall_z]])
        base, _ = camera.project(skirting, athlete=False)
        cv2.fillPoly(img, [_pts(base)], _tone(look.wall, 0.7), AA, SHIFT)
        for _ in range(look.wall_items):
            x0, wdt = rng.uniform(-3, 3), rng.uniform(0.4, 1.2)
            y0, hgt = rng.uniform(0.3, 1.2), rng.uniform(0.5, 1.8)
            corners = np.array([[x0, y0, wall_z], [x0 + wdt, y0, wall_z], [x0 + wdt, y0 + hgt, wall_z], [x0, y0 + hgt, wall_z]])
            quad, _ = camera.project(corners, athlete=False)
            colour = tuple(int(c) for c in rng.integers(30, 230, 3))
            cv2.fillPoly(img, [_pts(quad)], colour, AA, SHIFT)  # type: ignore[arg-type]
        if box:
            self._box(p, box_height)
        self._mat(p)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        vig = 1.0 - 0.25 * (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2) / 2
        self.image = np.clip(img.astype(np.float32) * vig[..., None], 0, 255).astype(np.uint8)

    def _cuboid(self, p: Painter, lo: np.ndarray, hi: np.ndarray, colour: RGB) -> None:
        x = (lo[0], hi[0])
        y = (lo[1], hi[1])
        zz = (lo[2], hi[2])
        faces = {  # name: (corners, shade)
            "top": ([(x[0], y[1], zz[0]), (x[1], y[1], zz[0]), (x[1], y[1], zz[1]), (x[0], y[1], zz[1])], 1.1),
            "front": ([(x[0], y[0], zz[1]), (x[1], y[0], zz[1]), (x[1], y[1], zz[1]), (x[0], y[1], zz[1])], 0.85),
            "left": ([(x[1], y[0], zz[0]), (x[1], y[0], zz[1]), (x[1], y[1], zz[1]), (x[1], y[1], zz[0])], 0.65),
            "right": ([(x[0], y[0], zz[0]), (x[0], y[0], zz[1]), (x[0], y[1], zz[1]), (x[0], y[1], zz[0])], 0.65),
        }
        # camera position in the athlete's (unturned) frame, to cull faces turned away
        cam_local = yaw_matrix(self.cam.yaw_deg).T @ self.cam.position
        normals = {"top": (1, 1), "front": (2, 1), "left": (0, 1), "right": (0, 0)}
        for name, (corners, shade) in faces.items():
            axis, use_hi = normals[name]
            bound = hi[axis] if use_hi else lo[axis]
            facing = cam_local[axis] > bound if use_hi else cam_local[axis] < bound
            if not facing:
                continue
            uv, _ = self.cam.project(np.array(corners, dtype=np.float64))
            cv2.fillPoly(p.img, [_pts(uv)], _tone(colour, shade), AA, SHIFT)

    def _box(self, p: Painter, box_height: float) -> None:
        self._cuboid(p, np.array([-0.32, 0.0, BOX_FRONT_Z - 0.46]), np.array([0.32, box_height, BOX_FRONT_Z]), self.look.box)

    def _mat(self, p: Painter) -> None:
        self._cuboid(p, np.array([-0.5, 0.0, BOX_FRONT_Z + 0.03]), np.array([0.5, 0.012, 0.55]), self.look.mat)


def shadow(img: np.ndarray, camera: Camera, pose: Pose3D, i: int, floor_y: float, strength: float) -> None:
    """A soft contact shadow on the floor (or box top) under the athlete."""
    c = pose["pelvis"][i].copy()
    height = max(0.0, min(pose["left_ankle"][i][1], pose["right_ankle"][i][1]) - floor_y - 0.06)
    c[1] = floor_y + 0.001
    a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = c + np.stack([0.42 * np.cos(a), np.zeros_like(a), 0.22 * np.sin(a)], -1)
    uv, _ = camera.project(ring)
    x0, y0 = np.floor(uv.min(0)).astype(int) - 2
    x1, y1 = np.ceil(uv.max(0)).astype(int) + 2
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [_pts(uv - [x0, y0])], 255, AA, SHIFT)
    k = strength / (1.0 + 4.0 * height)
    roi[:] = (roi * (1.0 - k * cv2.blur(mask, (5, 5))[..., None] / 255.0)).astype(np.uint8)


def finish(img: np.ndarray, look: Look, noise: np.ndarray, luts: np.ndarray) -> np.ndarray:
    """Lens softness, light level/colour (one LUT) and sensor noise, in place where possible."""
    if look.blur_sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), look.blur_sigma)
    img = cv2.LUT(img, luts)
    img = cv2.add(img, noise[0])
    return cv2.subtract(img, noise[1])


def make_luts(look: Look) -> np.ndarray:
    x = np.arange(256, dtype=np.float32)
    chans = [np.clip(((x - 128) * look.contrast + 128) * look.brightness * g, 0, 255) for g in look.colour_gain]
    return np.stack(chans, -1).astype(np.uint8).reshape(256, 1, 3)


def make_noise_bank(shape: tuple[int, ...], sigma: float, rng: np.random.Generator, n: int = 6) -> list[np.ndarray]:
    bank = []
    for _ in range(n):
        z = rng.normal(0, sigma, shape).astype(np.float32)
        bank.append(np.stack([np.clip(z, 0, 255).astype(np.uint8), np.clip(-z, 0, 255).astype(np.uint8)]))
    return bank
