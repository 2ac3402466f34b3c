// config/document_probe.h — a first pass over a YAML text that builds no nodes.
//
// It records where the root of each document starts (so that the loader can spot
// yaml-cpp's endless empty documents) and counts the nodes the documents hold once
// every alias is expanded: a configuration may reuse anchors, but an "alias bomb"
// (nine nested aliases of nine make 387 million nodes from 771 bytes) would exhaust
// memory when the tree is walked, so the loader refuses it beyond kMaxExpandedNodes.
//
// Not thread-safe; one probe per parse.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace taskmill::config {

// Most nodes a configuration may hold with its aliases expanded.
inline constexpr uint64_t kMaxExpandedNodes = 100'000;

class DocumentProbe final : public YAML::EventHandler {
 public:
  const std::vector<YAML::Mark>& roots() const { return roots_; }
  // The line (1-based) of the alias that took the expanded tree beyond
  // kMaxExpandedNodes; 0 when it stays within.
  int expansion_line() const { return expansion_line_; }

  void OnDocumentStart(const YAML::Mark&) override { root_seen_ = false; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { Leaf(mark, anchor); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node(mark);
    auto it = anchor_nodes_.find(anchor);
    Add(mark, it == anchor_nodes_.end() ? 1 : it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    Leaf(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  void Node(const YAML::Mark& mark) {
    if (!root_seen_) roots_.push_back(mark);
    root_seen_ = true;
  }
  // Counts `nodes` more expanded nodes; saturates rather than overflows.
  void Add(const YAML::Mark& mark, uint64_t nodes) {
    expanded_ = nodes > kMaxExpandedNodes ? kMaxExpandedNodes + 1
                                          : std::min(expanded_ + nodes, kMaxExpandedNodes + 1);
    if (expanded_ > kMaxExpandedNodes && expansion_line_ == 0) expansion_line_ = mark.line + 1;
  }
  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    Node(mark);
    Add(mark, 1);
    if (anchor != YAML::NullAnchor) anchor_nodes_[anchor] = 1;
  }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    Node(mark);
    open_.push_back({anchor, expanded_});
    Add(mark, 1);
  }
  void Close() {
    if (open_.empty()) return;
    auto [anchor, start] = open_.back();
    open_.pop_back();
    if (anchor != YAML::NullAnchor) anchor_nodes_[anchor] = expanded_ - start;
  }

  std::vector<YAML::Mark> roots_;
  bool root_seen_ = false;
  uint64_t expanded_ = 0;
  int expansion_line_ = 0;
  std::map<YAML::anchor_t, uint64_t> anchor_nodes_;        // expanded size per anchor
  std::vector<std::pair<YAML::anchor_t, uint64_t>> open_;  // collections being read
};

}  // namespace taskmill::config
