# What `cmake --install <build dir> [--prefix DIR]` installs (GNUInstallDirs, prefix /usr/local
# by default, the paths deploy/systemd's units expect):
#
#   bin/                     hie-gateway hie-identity hie-locator hie-registry hie-consent
#                            hie-audit (the services), hiectl, hie-member, hie-mpi
#   share/hie/               nicknames.csv (+ its licence): the default data of hie-identity and
#                            hie-mpi, found from the binary's own location
#                            (services/common/install_paths.h, mpi/tools/cli.h), so an installed
#                            program needs nothing from the source tree;
#                            pg-tuning.conf (PostgreSQL settings the benchmarks were run with)
#   share/hie/examples/      systemd/ (the units and hie.target) and env/ (each unit's
#                            /etc/hie/<service>.env example): copied into place by the operator
#                            (deploy/README.md), never activated by the install itself
#
# Without HIE_BUILD_SERVICES only hie-mpi and the data are installed. tests/deploy's
# deploy_install_test installs into a temporary prefix and starts what it installed.

include_guard(GLOBAL)

set(HIE_INSTALLED_PROGRAMS)
if(TARGET hie-mpi)
  list(APPEND HIE_INSTALLED_PROGRAMS hie-mpi)
endif()
if(HIE_BUILD_SERVICES)
  list(APPEND HIE_INSTALLED_PROGRAMS hie-gateway hie-identity hie-locator hie-registry
       hie-consent hie-audit hiectl hie-member)
endif()
install(TARGETS ${HIE_INSTALLED_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(HIE_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/hie)
install(FILES ${PROJECT_SOURCE_DIR}/mpi/data/nicknames.csv
              ${PROJECT_SOURCE_DIR}/mpi/data/nicknames_LICENSE.txt
              ${PROJECT_SOURCE_DIR}/scripts/pg-tuning.conf
        DESTINATION ${HIE_INSTALL_DATADIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/systemd/
        DESTINATION ${HIE_INSTALL_DATADIR}/examples/systemd
        FILES_MATCHING PATTERN "*.service" PATTERN "*.target" PATTERN "env" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/systemd/env/
        DESTINATION ${HIE_INSTALL_DATADIR}/examples/env
        FILES_MATCHING PATTERN "*.env")
