#include "common/unique_fd.h"

#include <unistd.h>

namespace sc {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) {
    // close() is not retried on EINTR: on Linux the descriptor is released either way.
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace sc
