#include "agent/service_notifier.h"

#include <systemd/sd-daemon.h>

namespace sc::agent {
namespace {

// STATUS= is one line: newlines would end the assignment early.
std::string oneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

void SystemdNotifier::ready(const std::string& s) { sd_notify(0, ("READY=1\nSTATUS=" + oneLine(s)).c_str()); }
void SystemdNotifier::status(const std::string& s) { sd_notify(0, ("STATUS=" + oneLine(s)).c_str()); }
void SystemdNotifier::watchdog() { sd_notify(0, "WATCHDOG=1"); }
void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1"); }

std::optional<std::chrono::microseconds> SystemdNotifier::watchdogInterval() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace sc::agent
