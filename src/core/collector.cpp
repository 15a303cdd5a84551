#include "pytheus/collector.hpp"

namespace pytheus {

void replay(const std::vector<MetricFamily>& families, MetricWriter& writer) {
  std::vector<LabelView> views;
  for (const MetricFamily& f : families) {
    writer.family(f.name, f.help, f.type, f.unit);
    for (const Sample& s : f.samples) {
      views.clear();
      for (const auto& [name, value] : s.labels) views.push_back({name, value});
      writer.sample(s.suffix, views.data(), views.size(), s.value);
      if (s.exemplar) writer.exemplar(*s.exemplar);
    }
  }
}

void Collector::write_to(MetricWriter& writer) const {
  replay(collect(), writer);
}

void FamilyBuilder::family(std::string_view name, std::string_view help, MetricType type,
                           std::string_view unit) {
  families_.push_back({std::string(name), std::string(help), type, std::string(unit), {}});
}

void FamilyBuilder::sample(std::string_view suffix, const LabelView* labels,
                           std::size_t label_count, double value) {
  Sample s;
  s.suffix = std::string(suffix);
  s.labels.reserve(label_count);
  for (std::size_t i = 0; i < label_count; ++i) {
    s.labels.emplace_back(std::string(labels[i].name), std::string(labels[i].value));
  }
  s.value = value;
  families_.back().samples.push_back(std::move(s));
}

void FamilyBuilder::exemplar(const Exemplar& e) {
  if (!families_.empty() && !families_.back().samples.empty()) {
    families_.back().samples.back().exemplar = e;
  }
}

std::vector<MetricFamily> FamilyBuilder::take() {
  return std::move(families_);
}

}  // namespace pytheus
