"""The OCR second stage of a run: text on ad objects (with phone numbers), plates on parked vehicles
(and on vehicles in photos).

OCR costs about half a second of CPU per crop, so it runs only where it helps: on the evidence
crop of each ads-family object (the text is the ad's message; a phone number traces the
advertiser) and of each parked vehicle (the plate is the digital chalk mark across passes).
What it reads goes into the observation's attributes: ``text``, ``phones`` (comma-separated
digits), ``plate`` (personal data: shown to case roles, masked in everything that leaves).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import cv2
import numpy as np

from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import MotionState, Observation
from streetwatch.vision.ad_text import extract_phones
from streetwatch.vision.ocr import OcrEngineMissingError, TextReader
from streetwatch.vision.plates import read_plate

log = logging.getLogger(__name__)

ADS_FAMILY = "ads"
VEHICLE_FAMILY = "parking"


class TextStage:
    """Reads text on the observations that need it; does nothing when the OCR package is missing.

    Args:
        taxonomy: Tells which classes are ads and which are vehicles.
        reader: The OCR reader (one ONNX Runtime thread by default: frames are the parallel unit).
    """

    def __init__(self, taxonomy: Taxonomy, reader: TextReader | None = None) -> None:
        self.taxonomy = taxonomy
        self.reader = reader or TextReader(threads=1)
        self.available = True

    def __call__(self, observation: Observation) -> Observation:
        family = self._family(observation.class_name)
        wants_text = family == ADS_FAMILY and "text" not in observation.attributes  # not read already
        # Plates of parked vehicles (the digital chalk mark across passes), and of the vehicle in a
        # photo: an inspector photographs the car they report, and one sighting cannot show parking.
        wants_plate = (family == VEHICLE_FAMILY and observation.motion is not None
                       and (observation.motion.state is MotionState.PARKED or observation.motion.total_sightings <= 1))
        if not self.available or not (wants_text or wants_plate):
            return observation
        decoded = cv2.imdecode(np.frombuffer(observation.crop.data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            return observation
        crop = np.asarray(decoded, dtype=np.uint8)
        found: dict[str, str] = {}
        try:
            if wants_text:
                text = " ".join(line.text for line in self.reader.read(crop))
                if text:
                    found["text"] = text
                    phones = extract_phones(text)
                    if phones:
                        found["phones"] = ",".join(phones)
            if wants_plate and (reading := read_plate(self.reader, crop)) is not None:
                found["plate"] = reading.plate.text
        except OcrEngineMissingError as exc:
            log.warning("OCR is off: %s", exc)
            self.available = False
            return observation
        return replace(observation, attributes={**observation.attributes, **found}) if found else observation

    def _family(self, class_name: str) -> str | None:
        spec = self.taxonomy.lookup(class_name)
        return spec.family if spec is not None else None
