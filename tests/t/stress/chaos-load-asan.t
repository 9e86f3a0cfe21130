# The chaos load (tests/lib/LFChaos.pm) on the AddressSanitizer and UBSan build.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFChaos;

plan skip_all => 'no ASan build (LUAFCGID_ASAN)' unless $ENV{LUAFCGID_ASAN} && -x $ENV{LUAFCGID_ASAN};
LFChaos::load_run('ASan build', LUAFCGID => $ENV{LUAFCGID_ASAN});
LFChaos::upgrade_run('ASan build', LUAFCGID => $ENV{LUAFCGID_ASAN});
done_testing;
