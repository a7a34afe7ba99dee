"""The figure: who the person is (identity), how they stand (pose), and where their joints are.

Everything is derived from a seed through independent random streams, so changing the garment never
changes the person, the background or the pose, and changing the pose never changes the person.
Body geometry is in *body units* (about the height of a standing adult from the neck to the knee
over 0.53); a camera maps body units to pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import InputError
from .attributes import (
    BACKGROUNDS,
    HAIR_COLORS,
    HAIR_STYLES,
    SHOE_COLORS,
    SKIN_TONES,
    TROUSER_COLORS,
)

FRAMINGS = ("upper", "full")
#: How far the poses of ``Pose.sample`` range: catalog stances, or the wide range of pose pairs.
POSE_RANGES = ("standard", "wide")

# random streams of a seed
_STREAM_IDENTITY = 0
_STREAM_POSE = 1


def stream(seed: int, which: int, *extra: int) -> np.random.Generator:
    """An independent random generator for one aspect (identity, pose) of a seed (an int >= 0)."""
    if int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}", field="seed")
    return np.random.default_rng(np.random.SeedSequence([int(seed), which, *extra]))


@dataclass(frozen=True)
class Identity:
    """The nuisance factors that make a person and a scene (everything but garment and pose)."""

    height: float  # vertical body scale
    width: float  # horizontal body scale
    skin: tuple[float, float, float]
    hair_color: tuple[float, float, float]
    hair_style: str
    trouser: tuple[float, float, float]
    shoe: tuple[float, float, float]
    background: str
    bg_color1: tuple[float, float, float]
    bg_color2: tuple[float, float, float]
    bg_angle: float
    light_gain: float
    light_dx: float
    fold_amp: float
    fold_period: float
    fold_angle: float
    fold_phase: float
    color_jitter: tuple[float, float, float]
    hem: float  # garment length below the hips, body units
    noise_sigma: float
    noise_offset: int  # where this person's noise starts in the renderer's noise table
    noise_stride: int
    texture: tuple[float, ...]  # 6x6 blotch grid of a textured background

    @classmethod
    def sample(cls, seed: int) -> Identity:
        # One draw of uniforms, consumed in a fixed order: cheap, and stable across versions as long
        # as new factors are appended at the end.
        r = iter(stream(seed, _STREAM_IDENTITY).random(96).tolist())

        def uni(lo: float, hi: float) -> float:
            return lo + (hi - lo) * next(r)

        def choice(n: int) -> int:
            return min(int(next(r) * n), n - 1)

        def pick(table: np.ndarray) -> tuple[float, float, float]:
            row = table[choice(len(table))]
            return tuple(min(1.0, max(0.0, float(c) + uni(-0.03, 0.03))) for c in row)

        def bg_color() -> tuple[float, float, float]:
            base = [next(r) for _ in range(3)]
            grey, mix = uni(0.35, 0.95), uni(0.55, 0.9)  # mostly desaturated backdrops
            return tuple(min(1.0, max(0.0, mix * grey + (1 - mix) * c)) for c in base)

        return cls(
            height=uni(0.94, 1.06),
            width=uni(0.88, 1.14),
            skin=pick(SKIN_TONES),
            hair_color=pick(HAIR_COLORS),
            hair_style=HAIR_STYLES[choice(len(HAIR_STYLES))],
            trouser=pick(TROUSER_COLORS),
            shoe=pick(SHOE_COLORS),
            background=BACKGROUNDS[choice(len(BACKGROUNDS))],
            bg_color1=bg_color(),
            bg_color2=bg_color(),
            bg_angle=uni(-0.6, 0.6),
            light_gain=uni(0.88, 1.06),
            light_dx=uni(-0.12, 0.12),
            fold_amp=uni(0.02, 0.07),
            fold_period=uni(0.06, 0.12),
            fold_angle=uni(-0.5, 0.5),
            fold_phase=uni(0, 2 * np.pi),
            color_jitter=(uni(-0.025, 0.025), uni(-0.025, 0.025), uni(-0.025, 0.025)),
            hem=uni(0.0, 0.06),
            noise_sigma=uni(0.003, 0.012),
            noise_offset=choice(1 << 30),
            noise_stride=2 * choice(1 << 18) + 1,
            texture=tuple(next(r) for _ in range(36)),
        )


@dataclass(frozen=True)
class Pose:
    """Joint angles (degrees) and camera jitter. Arm/leg angles are measured from straight down,
    positive away from the body; elbow/knee bends are added to them (negative bends the forearm
    across the body)."""

    arm_right: float = 15.0
    arm_left: float = 15.0
    elbow_right: float = 5.0
    elbow_left: float = 5.0
    leg_right: float = 4.0
    leg_left: float = 4.0
    knee_right: float = 0.0
    knee_left: float = 0.0
    turn: float = 0.0  # -0.3 .. 0.3: face and body turned to the image's left (-) or right (+)
    shift_x: float = 0.0  # fraction of the image width
    shift_y: float = 0.0  # fraction of the image height
    scale: float = 1.0

    @classmethod
    def sample(cls, seed: int, framing: str = "upper", variant: int = 0, pose_range: str = "standard") -> Pose:
        """The pose of ``seed`` (``variant`` > 0 gives other poses of the same person).

        ``pose_range`` "standard" keeps the figure close to a catalog stance (small arm, leg and turn
        angles: what the attribute and editing datasets use); "wide" is for pose pairs: arms anywhere from
        across the torso to raised overhead with strongly bent elbows, walking strides (one leg forward
        and bent at the knee), the strongest body turn the renderer draws (+-0.45), and shifts of position
        (+-15% of the width, +-6% of the height) and scale (0.8-1.1) across the frame."""
        if pose_range not in POSE_RANGES:
            raise InputError(f"unknown pose range {pose_range!r}; valid: {', '.join(POSE_RANGES)}", field="pose_range")
        r = iter(stream(seed, _STREAM_POSE, variant).random(12 if pose_range == "standard" else 16).tolist())

        def uni(lo: float, hi: float) -> float:
            return lo + (hi - lo) * next(r)

        if pose_range == "wide":
            return cls._sample_wide(uni, framing)
        arm_max = 40.0 if framing == "upper" else 26.0
        return cls(
            arm_right=uni(4, arm_max),
            arm_left=uni(4, arm_max),
            elbow_right=uni(-40, 45),
            elbow_left=uni(-40, 45),
            leg_right=uni(0, 10),
            leg_left=uni(0, 10),
            knee_right=uni(-6, 10),
            knee_left=uni(-6, 10),
            turn=uni(-0.3, 0.3),
            shift_x=uni(-0.04, 0.04),
            shift_y=uni(-0.02, 0.02),
            scale=uni(0.95, 1.05),
        )

    @classmethod
    def _sample_wide(cls, uni, framing: str) -> Pose:
        # arms: -35 (hand across the torso) .. 170 (raised overhead); elbows bent either way, more when the
        # arm is low (a raised arm with a strongly bent elbow would fold the hand into the head)
        arms = [uni(-35, 170), uni(-35, 170)]
        elbows = [uni(-110, 70) if a < 90 else uni(-40, 40) for a in arms]
        stride = uni(-1, 1)  # which leg steps out and how far: a walking stride seen from the front
        legs = [uni(-4, 8) + 22 * max(stride, 0.0), uni(-4, 8) + 22 * max(-stride, 0.0)]
        knees = [uni(-5, 10) + 40 * max(-stride, 0.0), uni(-5, 10) + 40 * max(stride, 0.0)]
        return cls(
            arm_right=arms[0],
            arm_left=arms[1],
            elbow_right=elbows[0],
            elbow_left=elbows[1],
            leg_right=legs[0],
            leg_left=legs[1],
            knee_right=knees[0],
            knee_left=knees[1],
            turn=uni(-0.45, 0.45),
            shift_x=uni(-0.15, 0.15),
            shift_y=uni(-0.06, 0.06) if framing == "upper" else uni(-0.05, 0.03),
            scale=uni(0.8, 1.1),
        )

    def to_dict(self) -> dict[str, float]:
        """Full-precision dict (rounding would break exact re-rendering)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> Pose:
        names = {f.name for f in fields(cls)}
        bad = set(d) - names
        if bad:
            raise InputError(f"unknown pose field(s) {sorted(bad)}; valid: {sorted(names)}", field="pose")
        return cls(**{k: float(v) for k, v in d.items()})


@dataclass
class Skeleton:
    """Joint positions in pixels plus the camera (``unit`` pixels per body unit)."""

    unit: float
    neck: np.ndarray  # (2,) x, y
    center_shift: float  # body units: where the garment's centre line sits (turn)
    head: np.ndarray
    head_rx: float
    head_ry: float
    nose: np.ndarray
    eyes: np.ndarray  # (2, 2): right, left
    ears: np.ndarray  # (2, 2): right, left
    ear_visible: tuple[bool, bool]
    shoulders: np.ndarray  # (2, 2): right (image left), left
    elbows: np.ndarray
    wrists: np.ndarray
    hips: np.ndarray
    knees: np.ndarray
    ankles: np.ndarray
    hem_y: float  # pixels
    shoulder_half: float  # body units
    hip_half: float  # body units

    def px(self, bx: float, by: float) -> tuple[float, float]:
        """Body units (relative to the neck) to pixels."""
        return float(self.neck[0] + bx * self.unit), float(self.neck[1] + by * self.unit)

    def keypoints(self, height: int, width: int) -> np.ndarray:
        """(18, 2) keypoints in the order of ``fashionlab.data.format.KEYPOINT_NAMES``; -1 where the
        joint is outside the image or hidden."""
        kps = np.array(
            [
                self.nose,
                self.neck,
                self.shoulders[0],
                self.elbows[0],
                self.wrists[0],
                self.shoulders[1],
                self.elbows[1],
                self.wrists[1],
                self.hips[0],
                self.knees[0],
                self.ankles[0],
                self.hips[1],
                self.knees[1],
                self.ankles[1],
                self.eyes[1],
                self.eyes[0],
                self.ears[1],
                self.ears[0],
            ],
            dtype=np.float32,
        )
        visible = (kps[:, 0] >= 0) & (kps[:, 0] < width) & (kps[:, 1] >= 0) & (kps[:, 1] < height)
        visible[16] &= self.ear_visible[1]
        visible[17] &= self.ear_visible[0]
        kps[~visible] = -1.0
        return kps


def _limb(
    start: np.ndarray, angle_deg: float, bend_deg: float, l1: float, l2: float, side: float
) -> tuple[np.ndarray, np.ndarray]:
    a1 = np.deg2rad(angle_deg)
    a2 = np.deg2rad(angle_deg + bend_deg)
    mid = start + l1 * np.array([side * np.sin(a1), np.cos(a1)])
    end = mid + l2 * np.array([side * np.sin(a2), np.cos(a2)])
    return mid, end


def build_skeleton(identity: Identity, pose: Pose, height: int, width: int, framing: str) -> Skeleton:
    """Place the figure in an image of ``height`` x ``width`` pixels."""
    if framing not in FRAMINGS:
        raise InputError(f"unknown framing {framing!r}; valid: {', '.join(FRAMINGS)}", field="framing")
    hf, wf, turn = identity.height, identity.width, pose.turn
    if framing == "upper":  # head to mid-thigh, like DeepFashion / shop images
        unit = 1.55 * height * pose.scale / hf
        neck = np.array([0.5 * width + pose.shift_x * width, (0.27 + pose.shift_y) * height])
    else:  # head to feet, like Market-1501
        unit = 0.93 * height * pose.scale / hf
        neck = np.array([0.5 * width + pose.shift_x * width, (0.19 + pose.shift_y) * height])
    u = unit

    def p(bx: float, by: float) -> np.ndarray:
        return np.array([neck[0] + bx * u, neck[1] + by * u])

    sh = 0.108 * wf * (1 - 0.25 * abs(turn))
    hh = 0.078 * wf * (1 - 0.2 * abs(turn))
    shoulders = np.stack([p(-sh, 0.03 * hf), p(sh, 0.03 * hf)])
    hips = np.stack([p(-hh, 0.31 * hf), p(hh, 0.31 * hf)])
    head = p(0.012 * turn, -0.085 * hf)
    elbows, wrists, knees, ankles = [], [], [], []
    for i, side in enumerate((-1.0, 1.0)):
        arm = pose.arm_right if i == 0 else pose.arm_left
        elbow = pose.elbow_right if i == 0 else pose.elbow_left
        e, w = _limb(shoulders[i], arm, elbow, 0.155 * hf * u, 0.14 * hf * u, side)
        elbows.append(e)
        wrists.append(w)
        leg = pose.leg_right if i == 0 else pose.leg_left
        knee = pose.knee_right if i == 0 else pose.knee_left
        k, a = _limb(hips[i], leg, -knee, 0.235 * hf * u, 0.225 * hf * u, side)
        knees.append(k)
        ankles.append(a)
    eye_dx, face_dx = 0.022 * wf, 0.035 * turn
    eyes = np.stack([head + u * np.array([-eye_dx + face_dx, -0.006]), head + u * np.array([eye_dx + face_dx, -0.006])])
    ears = np.stack(
        [head + u * np.array([-0.058 + 0.015 * turn, 0.004]), head + u * np.array([0.058 + 0.015 * turn, 0.004])]
    )
    return Skeleton(
        unit=u,
        neck=neck,
        center_shift=0.03 * turn,
        head=head,
        head_rx=0.058 * u,
        head_ry=0.07 * u,
        nose=head + u * np.array([0.045 * turn, 0.014]),
        eyes=eyes,
        ears=ears,
        ear_visible=(turn > -0.15, turn < 0.15),
        shoulders=shoulders,
        elbows=np.stack(elbows),
        wrists=np.stack(wrists),
        hips=hips,
        knees=np.stack(knees),
        ankles=np.stack(ankles),
        hem_y=float(neck[1] + (0.31 * hf + identity.hem) * u),
        shoulder_half=sh,
        hip_half=hh,
    )
