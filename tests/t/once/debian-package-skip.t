# debian-package.t when it skips: a machine that already has a luafcgid
# package (an administrator's, or the one another run of the test is
# working with right now) is left alone, as its skip message says. The
# package tools it would use are stand-ins that only record their
# arguments, so nothing on this machine is touched whatever the outcome.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use Test::More;
use LFTest qw(slurp spew);

my $top = $ENV{LF_TOP} || "$FindBin::Bin/../../..";
my $tmp = tempdir('lf-debskip.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $bin = "$tmp/bin";
mkdir $bin or die "mkdir $bin: $!";
my $calls = "$tmp/calls";

# dpkg-query says a luafcgid package is installed; the rest record.
spew("$bin/dpkg-query", "#!/bin/sh\nprintf 'install ok installed'\n");
for my $tool (qw(apt-get dpkg userdel groupdel)) {
    spew("$bin/$tool", "#!/bin/sh\necho \"$tool \$*\" >> '$calls'\nexit 0\n");
}
chmod 0755, glob("$bin/*");

# its run() writes "$tmp/runN.log", and $tmp is not set yet when it skips
my @stray = grep { !-e } map { "/run$_.log" } 1 .. 3;

my $out = `LF_TOP='$top' PATH='$bin':"\$PATH" $^X $top/tests/t/once/debian-package.t 2>&1`;
like($out, qr/^1\.\.0 # SKIP/m, 'debian-package.t skips on a machine that has a luafcgid package') or diag $out;
is(slurp($calls), '', 'and runs no package or user command (no apt-get purge, no userdel)');
unlike($out, qr/uninitialized/, 'and prints no Perl warning');
my @left = grep { -e } @stray;
is("@left", '', 'and writes no file outside its temp dir');
unlink @left;
done_testing;
