#pragma once

#include <string>

namespace hie::mpi {

// One person record as a source system sent it: raw, un-normalised strings. Every field may be
// empty (missing). This is the engine's input type and the row type of the `hie-mpi` CSV
// format, whose standard column names are the field names below.
//
// `record_id` identifies the record within one run or index; `org` and `local_id` identify it at
// its source (an HIE member organisation and its MRN). Neither is ever a matching feature.
struct Record {
  std::string record_id;
  std::string org;
  std::string local_id;
  std::string given_name;   // may hold middle names too ("Mary Ann")
  std::string middle_name;
  std::string family_name;  // may be compound or hyphenated
  std::string sex;          // free text: "F", "female", "Femalw", ...
  std::string birth_date;   // free text in any common format
  std::string address_line;
  std::string city;
  std::string state;
  std::string postal_code;
  std::string phone;
  std::string email;
  std::string ssn;
};

}  // namespace hie::mpi
