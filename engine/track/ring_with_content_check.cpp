#include "track/ring_with_content_check.h"

namespace dpdc {

RingWithContentCheck::RingWithContentCheck(RingDirtySource& ring, ContentDirtySource& content)
    : ring_(ring), content_(content) {
  content_.assume_destination_zeros();
}

void RingWithContentCheck::start_last_collect(Bitmap& out) {
  ring_.collect(out, Scan::Complete);  // with the guest stopped: every push
  content_.start_last_collect(out);    // and every page QEMU wrote itself
}

}  // namespace dpdc
