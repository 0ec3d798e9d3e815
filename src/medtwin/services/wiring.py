"""Start the platform's background services on a runtime: live scores, activity/sleep
derivation, the alarm engine and sequence-gap detection. ``medtwin serve`` and ``medtwin demo``
call :func:`start_services`; tests attach only what they exercise."""

from __future__ import annotations

from medtwin.runtime import Runtime


def start_services(
    rt: Runtime,
    *,
    monitoring: bool = True,
    reliability: bool = True,
    treatment: bool = True,
    homecare: bool = True,
) -> None:
    if treatment:  # refits a patient's drug twin when new levels arrive (issue 7)
        from medtwin.services.treatment.service import TreatmentService

        TreatmentService.attach(rt).start()
    if homecare:  # triage of home patients, worklist, caregiver notifications (issue 8)
        from medtwin.services.homecare.service import start_homecare

        start_homecare(rt)
    if monitoring and rt.settings.cluster_shards and getattr(rt.store, "partitioned", False):
        from medtwin.services.cluster import start_cluster  # scores, alarms: owned shards only

        start_cluster(rt)
    elif monitoring:
        from medtwin.services.monitoring.activity import ActivityService
        from medtwin.services.monitoring.alarms.service import AlarmService
        from medtwin.services.monitoring.scoring import ScoringService

        AlarmService.attach(rt).start()
        ScoringService().attach(rt).start()
        ActivityService().attach(rt).start()
    if reliability:  # after the alarm engine, so gaps restored at start reach it as technical alarms
        from medtwin.services.reliability.gaps import start_gaps

        start_gaps(rt)
