// Who holds the guest paused for an outgoing migration, so that the guest
// is never left paused by a migration that went away (pure; one per VMM,
// shared by its QMP sessions).
//
// A migration pauses the guest with x-dpdc-migration-stop and, once the
// whole stream but its end-of-file marker is written, marks it done with
// x-dpdc-migration-complete (QEMU's "postmigrate": the destination may run
// the guest now, so the source must not). If the session that paused the
// guest closes before that (the engine crashed, was SIGKILLed, lost its
// socket), the guest runs again: the destination cannot have resumed, as
// it resumes only after the end-of-file marker the engine writes after
// complete. A plain stop or cont by any client ends the hold: whoever
// paused or resumed by hand keeps that state.
#pragma once

namespace dpdc::vm {

class MigrationHold {
public:
    using Holder = const void*;  // a session's identity; never dereferenced

    void paused_for_migration(Holder h)
    {
        holder_ = h;
        completed_ = false;
    }
    // False when `h` does not hold the guest (nothing to complete).
    bool complete(Holder h)
    {
        if (!held_by(h))
            return false;
        holder_ = nullptr;
        completed_ = true;
        return true;
    }
    // A stop or cont by hand.
    void taken_over()
    {
        holder_ = nullptr;
        completed_ = false;
    }
    // `h` went away: true when the guest must run again.
    bool released(Holder h)
    {
        if (!held_by(h))
            return false;
        holder_ = nullptr;
        return true;
    }
    bool held() const { return holder_ != nullptr; }
    bool held_by(Holder h) const { return h != nullptr && holder_ == h; }
    bool completed() const { return completed_; }

private:
    Holder holder_ = nullptr;
    bool completed_ = false;
};

}  // namespace dpdc::vm
