# debian/control's Build-Depends under each build profile README.Debian
# documents: what the build runs must be declared. Without nocheck the
# build runs make check-unit, whose test_strlib compiles against the
# stock Lua 5.1 (`pkg-config lua5.1`, the Makefile's LUA51) whatever the
# daemon is built with, so liblua5.1-0-dev is needed with
# pkg.luafcgid.luajit too, unless nocheck is set.
#
# And what configure looks for: each `need` names the Debian packages
# that provide a library it checks; every one (but build-essential's) is a
# build dependency under the profiles that build with it, and in
# tools/deps's build list. A library added to configure without its
# package in debian/control fails here, not in a clean build.
use strict;
use warnings;
use FindBin;
use Test::More;

my $top = $ENV{LF_TOP} || "$FindBin::Bin/../../..";
plan skip_all => 'Dpkg::Deps (libdpkg-perl) is not installed' unless eval { require Dpkg::Deps; require Dpkg::Control::Info; 1 };

my $src = Dpkg::Control::Info->new("$top/debian/control")->get_source;
my $bd = $src->{'Build-Depends'};
like(scalar `grep -n 'LUA51 = pkg-config lua5.1' $top/Makefile.in`, qr/LUA51/, 'the unit tests build test_strlib against lua5.1');

for my $profiles ([], ['pkg.luafcgid.luajit'], ['nocheck'], ['pkg.luafcgid.luajit', 'nocheck']) {
    my $deps = Dpkg::Deps::deps_parse($bd, build_dep => 1, reduce_profiles => 1, build_profiles => $profiles);
    my %on = map { $_ => 1 } @$profiles;
    # the Lua 5.1 build links it; the LuaJIT build needs it for check-unit only
    my $need_lua51 = !($on{nocheck} && $on{'pkg.luafcgid.luajit'});
    my $has = "$deps" =~ /\bliblua5\.1-0-dev\b/;
    my $name = '<' . (join(' ', @$profiles) || 'no profile') . '>';
    if ($need_lua51) {
        ok($has, "$name: liblua5.1-0-dev is a build dependency") or diag "$deps";
    } else {
        ok(!$has, "$name: a LuaJIT build that runs no check-unit does not need liblua5.1-0-dev") or diag "$deps";
    }
}

my %essential = map { $_ => 1 } qw(gcc make libc6-dev binutils);
my %lua_of = ('liblua5.1-0-dev' => 'lua5.1', 'libluajit2-5.1-dev' => 'luajit');
my @needs = map { [ split ' ', $_ ] } `sed -n 's/.*need "[^"]*" "\\([^"]*\\)".*/\\1/p' $top/configure`;
my @pkgs = grep { !$essential{$_} } map { @$_ } @needs;
ok(@pkgs >= 6, 'configure names the packages it needs (' . join(' ', @pkgs) . ')');
my $tools_deps = `sed -n 's/^ *pkgs="\\(gcc [^"]*\\)"/\\1/p' $top/tools/deps`;
my %in_tools = map { $_ => 1 } split ' ', $tools_deps;
for my $profiles ([], ['pkg.luafcgid.luajit']) {
    my $deps = Dpkg::Deps::deps_parse($bd, build_dep => 1, reduce_profiles => 1, build_profiles => [ @$profiles, 'nocheck' ]);
    my %declared;
    Dpkg::Deps::deps_iterate($deps, sub { $declared{ $_[0]->{package} } = 1 });
    my $lua = @$profiles ? 'luajit' : 'lua5.1';
    my @missing = grep { !$declared{$_} } grep { !$lua_of{$_} || $lua_of{$_} eq $lua } @pkgs;
    my $name = '<' . (join(' ', @$profiles, 'nocheck')) . '>';
    is("@missing", '', "$name: every package configure needs (with --with-lua=$lua) is a build dependency");
}
is(join(' ', grep { !$in_tools{$_} && $_ ne 'libluajit2-5.1-dev' } @pkgs), '', 'and tools/deps installs it');
done_testing;
