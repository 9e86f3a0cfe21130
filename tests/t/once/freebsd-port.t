# The FreeBSD port (dist/freebsd, www/luafcgid): its pkg-plist against what
# the port stages from `make install` in the FreeBSD layout, both ways, with
# its options on and off, and its rc.d script, sample config and newsyslog
# entry. dist/freebsd/check does the work; this runs it once per CI run.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use LFTest ();
use Test::More;

my $top = LFTest::top();
my $out = `perl $top/dist/freebsd/check 2>&1`;
is($? >> 8, 0, 'dist/freebsd/check passes') or diag $out;
my ($planned) = $out =~ /^1\.\.(\d+)/m;
my $passed = () = $out =~ /^ok \d+/mg;
ok($planned && $passed == $planned && $planned >= 20, "every one of its checks passed ($passed of " . ($planned // '?') . ')');
ok(-l "$top/dist/freebsd/files/luafcgid.in" && readlink("$top/dist/freebsd/files/luafcgid.in") eq '../../../rc.d/luafcgid',
   "the port's rc.d script is the tree's rc.d/luafcgid");
done_testing;
