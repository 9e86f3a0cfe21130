# The chaos load (tests/lib/LFChaos.pm) on the ThreadSanitizer build.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFChaos;

plan skip_all => 'no TSan build (LUAFCGID_TSAN)' unless $ENV{LUAFCGID_TSAN} && -x $ENV{LUAFCGID_TSAN};
LFChaos::load_run('TSan build', LUAFCGID => $ENV{LUAFCGID_TSAN});
LFChaos::upgrade_run('TSan build', LUAFCGID => $ENV{LUAFCGID_TSAN});
done_testing;
