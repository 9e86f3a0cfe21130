# tools/deb (make deb) puts into the source package the files git tracks,
# as they are in the tree, and nothing else: not a file that was never
# added (a scratch file, a key, a core dump), ignored or not. The tree is
# a clone with tools/deb as it is here; dpkg-buildpackage and the dpkg
# tools it asks are stand-ins that list what they were given, so this
# runs in a second, without root or debhelper.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use Test::More;
use LFTest qw(slurp spew);

my $top = $ENV{LF_TOP} || "$FindBin::Bin/../../..";
plan skip_all => 'not a git tree' unless -e "$top/.git" && `which git 2>/dev/null`;

my $tmp = tempdir('lf-debsrc.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $src = "$tmp/src";
system('git', 'clone', '-q', $top, $src) == 0 or BAIL_OUT('git clone failed');
system('cp', "$top/tools/deb", "$src/tools/deb") == 0 or BAIL_OUT('cp failed');

spew("$src/stray.txt", "not added\n");
spew("$src/debian/scratch", "not added either\n");
spew("$src/src/core/leftover.o", "ignored by .gitignore\n");
spew("$src/README.md", slurp("$src/README.md") . "an edit not committed yet\n");

my $bin = "$tmp/bin";
mkdir $bin or die "mkdir: $!";
spew("$bin/dpkg-buildpackage", "#!/bin/sh\nfind . -path ./.git -prune -o ! -type d -print | sort > '$tmp/files'\n"
                             . "cp README.md '$tmp/README.md'\ntouch ../luafcgid_1.0.0_amd64.deb\n");
spew("$bin/dh", "#!/bin/sh\nexit 0\n");
spew("$bin/dpkg-parsechangelog", "#!/bin/sh\necho 1.0.0\n");
spew("$bin/dpkg-architecture", "#!/bin/sh\necho amd64\n");
chmod 0755, glob("$bin/*");

my $out = `PATH='$bin':"\$PATH" sh $src/tools/deb --out $tmp/out 2>&1`;
is($? >> 8, 0, 'tools/deb runs') or diag $out;
my %files = map { s{^\./}{}r => 1 } split /\n/, slurp("$tmp/files");
ok($files{'debian/control'} && $files{'configure'} && $files{'src/daemon/main.c'}, 'the tracked files are in the source');
ok(!$files{'stray.txt'} && !$files{'debian/scratch'}, 'a file never added is not');
ok(!$files{'src/core/leftover.o'}, 'nor an ignored one');
my $tracked = () = `git -C $src ls-files`;
is(scalar(keys %files), $tracked, 'the source has as many files as git tracks');
like(slurp("$tmp/README.md"), qr/an edit not committed yet\n\z/, 'a tracked file is taken as the tree has it, edits included');
done_testing;
