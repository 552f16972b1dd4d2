// The seed's Service Connect rules (and the API's documented limits the model does not encode).
//
// validateServiceConnect() checks a service's serviceConnectConfiguration against its task
// definition, the cluster's defaults and the namespace as it stands, and returns every problem
// found. Each problem names its rule (a stable id, listed in docs/service-connect-model.md), the
// JSON path it concerns and a message that says what to change.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/types.h"

namespace sc::model {

struct Diagnostic {
  std::string rule;  // e.g. "port-name-unknown"
  std::string path;  // e.g. "serviceConnectConfiguration.services[0].portName"
  std::string message;
  std::string text() const { return (path.empty() ? std::string() : path + ": ") + message + " [" + rule + "]"; }
};

struct ValidationInput {
  const TaskDefinition& task_definition;
  const ServiceDefinition& service;
  const ClusterDefinition* cluster = nullptr;     // optional
  const NamespaceSnapshot* namespace_ = nullptr;  // optional: without it, namespace-wide rules
                                                  // are checked within this service only
};

std::vector<Diagnostic> validateServiceConnect(const ValidationInput& in);

// The namespace a service joins: its own, else the cluster's default; nullopt when neither.
std::optional<std::string> resolveNamespace(const ServiceDefinition& service, const ClusterDefinition* cluster);

// Name syntax, shared with the control plane.
bool isValidPortName(std::string_view s);       // <= 64: [a-z0-9_-], not starting with '-'
bool isValidDiscoveryName(std::string_view s);  // <= 64: [a-z0-9_-], not starting with '-'
bool isValidDnsName(std::string_view s);        // <= 127: [a-z0-9_.-], DNS labels, not starting with '-'
bool isValidNamespaceName(std::string_view s);  // 1-1024, none of < > " /

// The HAProxy log target of a `syslog-address` log option: `udp://host:port`, `unix:///path`,
// `unixgram:///path`, or the same without a scheme. Hosts are IPv4 addresses, [IPv6] or DNS names;
// paths are absolute, at most 107 bytes of [A-Za-z0-9._/-] without `..`. Anything else (another
// scheme, whitespace, '#', quotes, a newline) is an error: the value is written into haproxy.cfg.
Result<std::string> syslogTarget(std::string_view address);

// The port mapping named `port_name` in `td`, with the container that has it; nullptr when none.
struct NamedPort {
  const ContainerDefinition* container;
  const PortMapping* mapping;
};
std::optional<NamedPort> findNamedPort(const TaskDefinition& td, std::string_view port_name);

// The family part of "family", "family:3" or "arn:aws:ecs:...:task-definition/family:3".
std::string taskDefinitionFamily(std::string_view ref);

}  // namespace sc::model
