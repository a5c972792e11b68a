"""The collector paused around bulk work, and what that work made handed to the oldest generation."""
import gc
import threading

from trackdag.gcpause import paused_gc, settled


def _in_generation(obj, generation):
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_what_a_pause_made_goes_to_the_oldest_generation_without_a_collection():
    """(Else the first allocation after the pause walks all of it: 3 s at a million configurations.)"""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with paused_gc():
        assert not gc.isenabled()
        made = [[i] for i in range(50_000)]  # (lists: tracked by the collector, as a plan's Jobs are)
    assert gc.isenabled()
    # the youngest generation starts again nearly empty (before: 50,000 objects, walked at the next allocation)
    assert gc.get_count()[0] < 10_000
    # (a pass of the youngest generation would have put them in the middle one)
    assert _in_generation(made[0], 2) and _in_generation(made[-1], 2)
    assert gc.get_freeze_count() == 0


def test_inside_a_settled_run_nothing_frozen_is_thawed():
    """(Within settled(), what it froze stays frozen: the pause leaves the generations alone.)"""
    keep = [[1]]
    with settled():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with paused_gc():
            made = [[i] for i in range(1000)]
        # (the count may fall a little: frozen objects freed meanwhile leave it; unfreezing would empty it)
        assert gc.get_freeze_count() > frozen // 2 and not _in_generation(keep[0], 2)
        assert made
    assert gc.get_freeze_count() == 0 and _in_generation(keep[0], 2)


def test_nested_and_concurrent_pauses_enable_the_collector_once_at_the_end():
    inner_done = threading.Event()
    release = threading.Event()

    def other():
        with paused_gc():
            inner_done.set()
            release.wait(10)

    with paused_gc():
        thread = threading.Thread(target=other)
        thread.start()
        inner_done.wait(10)
    assert not gc.isenabled()  # the thread's pause still runs
    release.set()
    thread.join()
    assert gc.isenabled()
