import anyio

from cloutility_async import Cloutility


async def main() -> None:
    async with Cloutility.from_env() as api:
        print(await api.full_version())
        me = await api.me()
        print("logged in as", me.name, "of", me.business_unit.name if me.business_unit else "?")


if __name__ == "__main__":
    anyio.run(main)
