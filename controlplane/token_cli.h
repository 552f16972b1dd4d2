// `sccontrol token create|list|revoke`: bootstrap tokens in the credentials file
// (docs/control-plane.md, "Bootstrap tokens").
#pragma once

#include <string>

namespace sc::controlplane {

// argv[0] is "token". Returns the exit status: 0 done, 1 failed, 2 bad usage.
int runTokenCommand(int argc, char** argv, const std::string& default_credentials);

}  // namespace sc::controlplane
