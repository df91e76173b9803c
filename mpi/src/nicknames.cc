#include "hie/mpi/nicknames.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mpi/src/string_view_compat.h"
#include "hie/mpi/text.h"

namespace hie::mpi {

absl::StatusOr<NicknameTable> NicknameTable::FromCsv(std::string_view csv_text) {
  NicknameTable table;
  absl::flat_hash_map<std::string, uint32_t> formal_ids;
  auto formal_id = [&formal_ids](const std::string& name) {
    auto [it, inserted] = formal_ids.emplace(name, static_cast<uint32_t>(formal_ids.size() + 1));
    return it->second;
  };
  auto add = [&table](const std::string& name, uint32_t group) {
    auto& v = table.groups_[name];
    if (std::find(v.begin(), v.end(), group) == v.end()) v.push_back(group);
  };
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(Av(csv_text), '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, ',');
    if (cols.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("nickname table line ", line_no, ": expected 3 columns, got ",
                       cols.size()));
    }
    if (line_no == 1 && cols[1] == "relationship") continue;  // header
    if (cols[1] != "has_nickname") continue;
    const std::string formal = FoldToAscii(Sv(cols[0]), false);
    const std::string nick = FoldToAscii(Sv(cols[2]), false);
    if (formal.empty() || nick.empty()) continue;
    const uint32_t id = formal_id(formal);
    add(formal, id);
    add(nick, id);
  }
  for (auto& [name, v] : table.groups_) std::sort(v.begin(), v.end());
  for (auto& [name, id] : formal_ids) table.formal_ids_.emplace(name, id);
  return table;
}

absl::StatusOr<NicknameTable> NicknameTable::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read nickname table ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return FromCsv(ss.str());
}

const std::vector<uint32_t>* NicknameTable::Groups(std::string_view folded_name) const {
  auto it = groups_.find(Av(folded_name));
  return it == groups_.end() ? nullptr : &it->second;
}

uint32_t NicknameTable::FormalId(std::string_view folded_name) const {
  auto it = formal_ids_.find(Av(folded_name));
  return it == formal_ids_.end() ? 0 : it->second;
}

bool NicknameTable::Equivalent(std::string_view a, std::string_view b) const {
  if (a == b) return !a.empty();
  const auto* ga = Groups(a);
  const auto* gb = Groups(b);
  if (ga == nullptr || gb == nullptr) return false;
  size_t i = 0;
  size_t j = 0;
  while (i < ga->size() && j < gb->size()) {
    if ((*ga)[i] == (*gb)[j]) return true;
    if ((*ga)[i] < (*gb)[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return false;
}

std::string DefaultNicknamePath() {
#ifdef HIE_MPI_DATA_DIR
  return std::string(HIE_MPI_DATA_DIR) + "/nicknames.csv";
#else
  return "mpi/data/nicknames.csv";
#endif
}

}  // namespace hie::mpi
