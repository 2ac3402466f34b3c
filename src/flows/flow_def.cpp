// Flow definitions: the graph's questions (predecessors, successors, edges) and the
// rules of a flow, wherever it comes from (the configuration file, the C++ builder).
#include <taskmill/flow.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <functional>
#include <set>

namespace taskmill {
namespace {

constexpr int kMaxAttempts = 1'000'000;

bool IsStepName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

void AddOnce(std::vector<std::string>& list, const std::string& name) {
  if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
}

}  // namespace

const FlowStep* FlowDef::Find(std::string_view step) const {
  for (const FlowStep& s : steps) {
    if (s.name == step) return &s;
  }
  return nullptr;
}

std::vector<std::string> FlowDef::Predecessors(std::string_view step) const {
  std::vector<std::string> out;
  const FlowStep* self = Find(step);
  for (const FlowStep& s : steps) {
    bool listed = self != nullptr &&
                  std::find(self->after.begin(), self->after.end(), s.name) != self->after.end();
    bool precedes = std::find(s.next.begin(), s.next.end(), step) != s.next.end();
    if (listed || precedes) AddOnce(out, s.name);
  }
  return out;
}

std::vector<std::string> FlowDef::Successors(std::string_view step) const {
  std::vector<std::string> out;
  const FlowStep* self = Find(step);
  for (const FlowStep& s : steps) {
    bool named = self != nullptr &&
                 std::find(self->next.begin(), self->next.end(), s.name) != self->next.end();
    bool waits = std::find(s.after.begin(), s.after.end(), step) != s.after.end();
    if (named || waits) AddOnce(out, s.name);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> FlowDef::Edges() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const FlowStep& s : steps) {
    for (const std::string& to : Successors(s.name)) out.emplace_back(s.name, to);
  }
  return out;
}

std::vector<FlowProblem> FlowDef::Problems() const {
  std::vector<FlowProblem> out;
  if (Status named = ValidateTaskName(name); !named.ok() || name.find(':') != std::string::npos) {
    out.push_back({"", "", "invalid flow name '" + name + "': use [A-Za-z0-9_.-]"});
  }
  if (steps.empty()) out.push_back({"", "steps", "a flow needs at least one step"});
  std::set<std::string, std::less<>> names;
  for (const FlowStep& s : steps) {
    if (!IsStepName(s.name)) {
      out.push_back({s.name, "", "invalid step name '" + s.name +
                                     "': 1-64 characters of [A-Za-z0-9_-]"});
    }
    if (!names.insert(s.name).second) out.push_back({s.name, "", "step defined twice"});
  }
  if (entrance.empty()) {
    if (!steps.empty()) out.push_back({"", "entrance", "no entrance step given"});
  } else if (!names.contains(entrance)) {
    out.push_back({"", "entrance", "unknown step '" + entrance + "'"});
  }
  bool links_known = true;
  for (const FlowStep& s : steps) {
    if (s.function.empty()) {
      out.push_back({s.name, "func_name", "every step needs a func_name"});
    } else if (Status f = ValidateFunctionName(s.function); !f.ok()) {
      out.push_back({s.name, "func_name", f.message()});
    }
    if (!s.child_function.empty()) {
      if (Status f = ValidateFunctionName(s.child_function); !f.ok()) {
        out.push_back({s.name, "child_func", f.message()});
      }
    } else if (s.max_concurrency != 0) {
      out.push_back({s.name, "max_concurrency", "only a step with a child_func has children"});
    }
    if (s.max_concurrency < 0) {
      out.push_back({s.name, "max_concurrency", "must be 0 (no cap) or more"});
    }
    if (s.retry.max_attempts < 1 || s.retry.max_attempts > kMaxAttempts) {
      out.push_back({s.name, "max_attempts", "must be 1 to 1000000"});
    } else if (Status r = s.retry.Validate(); !r.ok()) {
      out.push_back({s.name, "max_attempts", r.message()});
    }
    if (s.timeout && s.timeout->count() <= 0) {
      out.push_back({s.name, "timeout", "must be positive"});
    }
    for (const std::string& n : s.next) {
      if (n == kFlowAllOver) continue;
      if (!names.contains(n)) {
        out.push_back({s.name, "next", "unknown step '" + n + "'"});
        links_known = false;
      } else if (n == s.name) {
        out.push_back({s.name, "next", "cycle: " + s.name + " → " + s.name});
        links_known = false;
      }
    }
    for (const std::string& a : s.after) {
      if (!names.contains(a)) {
        out.push_back({s.name, "after", "unknown step '" + a + "'"});
        links_known = false;
      } else if (a == s.name) {
        out.push_back({s.name, "after", "cycle: " + s.name + " → " + s.name});
        links_known = false;
      }
    }
  }
  if (!links_known || !out.empty()) return out;

  // Cycles: a depth-first walk along successors; a step met again on the current
  // path closes a cycle, named from its first step back to it.
  std::map<std::string, int, std::less<>> color;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::optional<std::vector<std::string>> cycle;
  std::function<void(const std::string&)> visit = [&](const std::string& step) {
    if (cycle) return;
    color[step] = 1;
    path.push_back(step);
    for (const std::string& next : Successors(step)) {
      if (cycle) break;
      if (color[next] == 1) {
        auto from = std::find(path.begin(), path.end(), next);
        cycle = std::vector<std::string>(from, path.end());
        cycle->push_back(next);
      } else if (color[next] == 0) {
        visit(next);
      }
    }
    path.pop_back();
    color[step] = 2;
  };
  for (const FlowStep& s : steps) {
    if (color[s.name] == 0) visit(s.name);
    if (cycle) break;
  }
  if (cycle) {
    std::string text;
    for (const std::string& step : *cycle) text += (text.empty() ? "" : " → ") + step;
    out.push_back({cycle->front(), "next", "cycle: " + text});
    return out;
  }

  // Reachability from the entrance; the entrance itself waits for no step.
  if (!Predecessors(entrance).empty()) {
    out.push_back({entrance, "after", "the entrance step cannot wait for other steps"});
  }
  std::set<std::string, std::less<>> reached;
  std::vector<std::string> todo = {entrance};
  while (!todo.empty()) {
    std::string step = todo.back();
    todo.pop_back();
    if (!reached.insert(step).second) continue;
    for (const std::string& next : Successors(step)) todo.push_back(next);
  }
  for (const FlowStep& s : steps) {
    if (!reached.contains(s.name)) {
      out.push_back({s.name, "", "unreachable from the entrance '" + entrance + "'"});
    }
  }
  return out;
}

Status FlowDef::Validate() const {
  std::vector<FlowProblem> problems = Problems();
  if (problems.empty()) return Status::Ok();
  std::string message = "flow '" + name + "': ";
  boost::json::array details;
  for (size_t i = 0; i < problems.size(); ++i) {
    const FlowProblem& p = problems[i];
    std::string where = p.step;
    if (!p.key.empty()) where += (where.empty() ? "" : ".") + p.key;
    message += (i ? "; " : "") + (where.empty() ? "" : where + ": ") + p.message;
    details.push_back({{"step", p.step}, {"key", p.key}, {"message", p.message}});
  }
  return Status::InvalidArgument(message, boost::json::object{{"flow", name}, {"problems", details}});
}

boost::json::object ToJson(const FlowDef& flow) {
  boost::json::array steps;
  for (const FlowStep& s : flow.steps) {
    boost::json::object step{{"name", s.name},
                             {"func_name", s.function},
                             {"max_attempts", s.retry.max_attempts},
                             {"timeout", s.timeout ? boost::json::value(std::chrono::duration<double>(*s.timeout).count())
                                                   : boost::json::value(nullptr)},
                             {"child_func", s.child_function},
                             {"max_concurrency", s.max_concurrency},
                             {"exit_on_failed", s.exit_on_failed}};
    boost::json::array next, after;
    for (const std::string& n : flow.Successors(s.name)) next.emplace_back(n);
    for (const std::string& a : flow.Predecessors(s.name)) after.emplace_back(a);
    step["next"] = std::move(next);
    step["after"] = std::move(after);
    steps.push_back(std::move(step));
  }
  boost::json::array edges;
  for (const auto& [from, to] : flow.Edges()) edges.push_back({{"from", from}, {"to", to}});
  return {{"name", flow.name},        {"entrance", flow.entrance}, {"queue", flow.queue},
          {"callback", flow.callback}, {"steps", std::move(steps)}, {"edges", std::move(edges)}};
}

std::string ToDot(const FlowDef& flow) {
  // Names are validated ([A-Za-z0-9_.-]); labels hold DOT's own "\n" line breaks.
  auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::string out = "digraph " + quote(flow.name) + " {\n  rankdir=LR;\n  node [shape=box];\n";
  for (const FlowStep& s : flow.steps) {
    std::string label = s.name + "\\n" + s.function;
    if (!s.child_function.empty()) {
      label += "\\n× " + s.child_function;
      if (s.max_concurrency > 0) label += " (≤ " + std::to_string(s.max_concurrency) + ")";
    }
    out += "  " + quote(s.name) + " [label=" + quote(label) +
           (s.name == flow.entrance ? ", style=bold" : "") + "];\n";
  }
  for (const auto& [from, to] : flow.Edges()) {
    out += "  " + quote(from) + " -> " + quote(to) + ";\n";
  }
  return out + "}\n";
}

Status FlowRegistry::Register(FlowDef flow) {
  TASKMILL_RETURN_IF_ERROR(flow.Validate());
  if (flows_.contains(flow.name)) return Status::Conflict("flow '" + flow.name + "' is defined twice");
  std::string name = flow.name;
  flows_.emplace(std::move(name), std::move(flow));
  return Status::Ok();
}

const FlowDef* FlowRegistry::Find(std::string_view name) const {
  auto it = flows_.find(name);
  return it == flows_.end() ? nullptr : &it->second;
}

std::vector<const FlowDef*> FlowRegistry::List() const {
  std::vector<const FlowDef*> out;
  for (const auto& [name, def] : flows_) out.push_back(&def);
  return out;
}

}  // namespace taskmill
