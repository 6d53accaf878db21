"""The shared vocabulary: types that flow, statuses, errors, settings, the taxonomy, places
(geo, zones, permits) and the case-matching algorithm. Imports nothing else of ours."""
