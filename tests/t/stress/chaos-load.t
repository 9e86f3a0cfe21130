# The chaos load (tests/lib/LFChaos.pm) on the plain build.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFChaos;

LFChaos::load_run('plain build');
LFChaos::upgrade_run('plain build');
done_testing;
