# The command line: -V, -h, -t on good and bad configs, bad options.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(spew);

my $bin = LFTest::binary();
my $t = LFTest->new;
my $conf = $t->conf_path;

sub run {
    my $out = `@_ 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run($bin, '-V');
is($rc, 0, '-V exits 0');
like($out, qr/^luafcgid \d+\.\d+\.\d+ \((Lua 5\.1|LuaJIT)/, '-V prints the version and the Lua it was built with');

($rc, $out) = run($bin, '-h');
is($rc, 0, '-h exits 0');
like($out, qr/usage: luafcgid \[-F\] \[-t\] \[-V\] \[-h\] \[CONFIG\]/, '-h prints the usage');

($rc, $out) = run($bin, '-x');
is($rc, 1, 'an unknown option exits 1');
like($out, qr/usage:/, 'and prints the usage');

($rc, $out) = run($bin, '-t', $conf);
is($rc, 0, '-t on a good config exits 0');
like($out, qr/^luafcgid: \Q$conf\E: syntax is ok$/m, '-t says the syntax is ok');

spew($conf, "workers = 2\nstates = = 3\n");
($rc, $out) = run($bin, '-t', $conf);
is($rc, 1, '-t on a syntax error exits 1');
like($out, qr/\Q$conf\E:2:/, 'the syntax error names the file and line');

spew($conf, "workers = 'many'\n");
($rc, $out) = run($bin, '-t', $conf);
is($rc, 1, '-t on a bad value exits 1');
like($out, qr/key 'workers': must be a number, not a string/, 'the error names the key and the reason');

spew($conf, "workers = 4\nstates = 2\n");
($rc, $out) = run($bin, '-t', $conf);
like($out, qr/key 'states': must be at least workers/, 'a cross-key error names the key');

spew($conf, "workres = 4\n");
($rc, $out) = run($bin, '-t', $conf);
is($rc, 0, 'a misspelt key is only a warning');
like($out, qr/unknown key 'workres' ignored; did you mean 'workers'\?/, 'the warning suggests the key');

spew($conf, "ffi = true\n");
($rc, $out) = run($bin, '-t', $conf);
is($rc, 0, 'ffi = true is accepted by either build');
if (`$bin -V 2>&1` =~ /\(LuaJIT/) {
    unlike($out, qr/'ffi'/, 'a LuaJIT build lets ffi in without a word');
} else {
    like($out, qr/'ffi' has no effect: this luafcgid is built on Lua 5\.1/, 'a Lua 5.1 build says the key does nothing');
}

spew($conf, "memory = 1024 * 1024\nupload_memory = 1024 * 1024\n");
($rc, $out) = run($bin, '-t', $conf);
is($rc, 0, 'upload_memory over half of memory is accepted');
like($out, qr/upload_memory \(1048576\) is over half of memory \(1048576\)/, 'with a warning that names both');
spew($conf, "memory = 1024 * 1024\nupload_memory = 512 * 1024\n");
($rc, $out) = run($bin, '-t', $conf);
unlike($out, qr/upload_memory/, 'half of memory is not warned about');

# the config must be a regular file, opened without waiting: a FIFO would
# hold -t (and a HUP) for ever
my $dir = $t->dir;
system('mkfifo', "$dir/fifo.conf") == 0 or die "mkfifo: $!";
($rc, $out) = run('timeout', '10', $bin, '-t', "$dir/fifo.conf");
is($rc, 1, '-t on a FIFO exits 1 at once');
like($out, qr/^luafcgid: \Q$dir\E\/fifo\.conf: is not a regular file$/m, 'and says it is no regular file');
($rc, $out) = run($bin, '-t', $dir);
like($out, qr/^luafcgid: \Q$dir\E: is a directory$/m, '-t on a directory says so');
($rc, $out) = run($bin, '-t', "$dir/none.conf");
like($out, qr/^luafcgid: cannot open \Q$dir\E\/none\.conf: No such file or directory$/m, 'a missing config says so');
spew($conf, "#!/usr/sbin/luafcgid -t\nworkers = 2\nstates = = 3\n");
($rc, $out) = run($bin, '-t', $conf);
like($out, qr/\Q$conf\E:3:/, 'a first line starting with # is skipped, and the lines still count from it');

# the config's Lua has a memory cap: a loop that doubles a string stops at
# it, named, rather than growing until the kernel kills the process (the
# ulimit keeps a regression from taking the machine)
spew($conf, "x = 'a' for i = 1, 40 do x = x .. x end\n");
($rc, $out) = run("sh -c 'ulimit -v 2097152; exec \"\$0\" -t \"\$1\"'", $bin, $conf);
is($rc, 1, '-t on a config that grows without bound exits 1');
like($out, qr/^luafcgid: \Q$conf\E: the config used too much memory \(more than 64 MB/m,
     'and says that the config file used too much memory, naming it');

# httpstatus follows req:header("Status")'s rule: nginx answers 502 to an
# answer whose status it cannot read
for my $bad ('abc', '20 OK', '2000 OK', '200OK', '') {
    spew($conf, "httpstatus = '$bad'\n");
    ($rc, $out) = run($bin, '-t', $conf);
    is($rc, 1, "-t refuses httpstatus '$bad'");
    like($out, qr/key 'httpstatus': must be a code and a reason, like "404 Not Found"/, 'saying what it must be');
}
for my $good ('404 Not Found', '204') {
    spew($conf, "httpstatus = '$good'\n");
    ($rc, $out) = run($bin, '-t', $conf);
    is($rc, 0, "-t takes httpstatus '$good'");
}

($rc, $out) = run($bin, '-t', $t->dir . '/missing.conf');
is($rc, 1, '-t on a missing file exits 1');
like($out, qr/missing\.conf/, 'and names the file');

spew($conf, "workers = 0\n");
($rc, $out) = run($bin, '-F', $conf);
is($rc, 1, 'starting with a bad config exits 1');
like($out, qr/^luafcgid: .*key 'workers'/m, 'with a one-line reason on stderr');

$t->write_conf(listen => $t->dir . '/no/such/dir/lf.sock');
($rc, $out) = run($bin, '-F', $conf);
is($rc, 1, 'a socket that cannot be bound exits 1');
like($out, qr/cannot (?:bind|make the directory) .*No such file/i, 'and says why on stderr');
ok(!-e $t->dir . '/lf.pid', 'and leaves no pidfile');

done_testing;
