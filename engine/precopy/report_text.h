#pragma once
// Human-readable migration statistics: one report per run, and a side-by-side
// table when several policies ran on the same guest or trace.
#include <string>
#include <vector>

#include "precopy/precopy.h"

namespace dpdc {

std::string format_report(const PrecopyReport& report);
std::string format_comparison(const std::vector<PrecopyReport>& reports);

}  // namespace dpdc
